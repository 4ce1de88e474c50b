//! The messages view: subscribe to topics, publish (text or JSON), and watch a live feed of what arrives
//! (time, topic, sender), newest first, with pause and clear. The feed keeps its bound and says how many
//! messages went past it; its rows are keyed by arrival, so a busy topic adds and removes rows, nothing else.

use herald_core::bridge::BridgeCommand;
use herald_core::Payload;
use leptos::prelude::*;

use super::error_note::ErrorNote;
use super::time::Time;
use crate::connection::send;
use crate::state::feed::{Feed, MAX_FEED};
use crate::state::{Action, Parts};
use crate::DashContext;

/// Rows of the feed on the page (the newest; the feed keeps [`MAX_FEED`]).
const SHOWN: usize = 100;

/// Subscribe and publish forms and the feed.
#[component]
pub fn MessagesView() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let pattern = RwSignal::new(String::new());
    let topic = RwSignal::new(String::new());
    let body = RwSignal::new(String::new());
    let subscribe = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let topic = pattern.get().trim().to_owned();
        if !topic.is_empty() {
            send(context, BridgeCommand::Subscribe { topic });
        }
    };
    let publish = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let payload = Payload::from(body.get());
        send(
            context,
            BridgeCommand::Publish {
                topic: topic.get().trim().to_owned(),
                payload,
            },
        );
    };
    let subscriptions = move || {
        dash.with(Parts::SUBSCRIPTIONS, |dash| {
            dash.subscriptions
                .keys()
                .map(|topic| {
                    let unsubscribe_topic = topic.clone();
                    view! {
                        <li data-testid="subscription">{topic.clone()} " "
                            <button type="button" aria-label=format!("unsubscribe {topic}")
                                on:click=move |_| send(context, BridgeCommand::Unsubscribe { topic: unsubscribe_topic.clone() })>
                                "×"
                            </button>
                        </li>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let feed = move || {
        dash.with(Parts::FEED, |dash| {
            dash.feed
                .newest(SHOWN)
                .map(|(seq, message)| {
                    (
                        *seq,
                        message.at_ms,
                        message.topic.clone().unwrap_or_else(|| "(direct)".into()),
                        message.from_name.clone(),
                        Feed::body(message),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let counts = move || {
        dash.with(Parts::FEED, |dash| {
            let feed = &dash.feed;
            let mut text = format!("{} kept (at most {MAX_FEED})", feed.len());
            if feed.len() > SHOWN {
                text.push_str(&format!(", newest {SHOWN} shown"));
            }
            if feed.dropped > 0 {
                text.push_str(&format!("; {} older skipped", feed.dropped));
            }
            text
        })
    };
    // Topics to choose from: what peers subscribe to and what this page subscribed to.
    let known_topics = move || {
        dash.with(Parts::PEERS | Parts::SUBSCRIPTIONS, |dash| {
            dash.known_topics()
        })
        .into_iter()
        .map(|(topic, ())| view! { <option value=topic/> })
        .collect::<Vec<_>>()
    };
    let paused = move || dash.with(Parts::FEED, |dash| dash.feed.is_paused());
    let held = move || dash.with(Parts::FEED, |dash| dash.feed.held());
    view! {
        <section class="card messages" aria-labelledby="messages-title">
            <h2 id="messages-title">"Messages"</h2>
            <form class="controls" on:submit=subscribe>
                <label>"Subscribe to "
                    <input type="text" placeholder="sensors.*" required data-testid="subscribe-topic"
                        prop:value=move || pattern.get() on:input=move |ev| pattern.set(event_target_value(&ev))/>
                </label>
                <button type="submit" data-testid="subscribe-button">"Subscribe"</button>
                <ul class="subscriptions">{subscriptions}</ul>
                <ErrorNote action=Action::Subscribe/>
            </form>
            <form class="controls" on:submit=publish>
                <datalist id="known-topics">{known_topics}</datalist>
                <label>"Topic "
                    <input type="text" placeholder="chat" required data-testid="publish-topic" list="known-topics"
                        prop:value=move || topic.get() on:input=move |ev| topic.set(event_target_value(&ev))/>
                </label>
                <label>"Message (text or JSON) "
                    <textarea rows="2" data-testid="publish-body"
                        prop:value=move || body.get() on:input=move |ev| body.set(event_target_value(&ev))></textarea>
                </label>
                <button type="submit" data-testid="publish-button">"Publish"</button>
                <ErrorNote action=Action::Publish/>
            </form>
            <div class="controls">
                <button type="button" data-testid="feed-pause"
                    aria-pressed=move || paused().to_string()
                    on:click=move |_| dash.change(Parts::FEED, |dash| { let p = dash.feed.is_paused(); dash.feed.set_paused(!p) })>
                    {move || if paused() { format!("Resume ({} waiting)", held()) } else { "Pause".to_owned() }}
                </button>
                <button type="button" data-testid="feed-clear" on:click=move |_| dash.change(Parts::FEED, |dash| dash.feed.clear())>
                    "Clear"
                </button>
                <span class="hint" data-testid="feed-counts" aria-live="off">{counts}</span>
            </div>
            <div class="table-scroll">
                <table>
                    <thead><tr><th>"Time"</th><th>"Topic"</th><th>"From"</th><th>"Message"</th></tr></thead>
                    <tbody>
                        <For each=feed key=|row| row.0 let:row>
                            <tr data-testid="feed-row">
                                <td><Time ms=row.1/></td>
                                <td>{row.2}</td>
                                <td>{row.3}</td>
                                <td data-testid="feed-body">{row.4}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}
