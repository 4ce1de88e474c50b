//! The ask view: pick one, several or all live peers, write a question, set a timeout; each peer's answer
//! appears as it comes, then the final state of each (answered with latency, timeout, unknown, left, failed).

use herald_core::bridge::{BridgeCommand, Targets};
use herald_core::{AskOutcome, Payload};
use leptos::prelude::*;

use super::error_note::ErrorNote;
use crate::connection::send;
use crate::num::parse_float;
use crate::state::asks::AskView as AskState;
use crate::state::vec_map::VecSet;
use crate::state::{Action, Parts};
use crate::DashContext;

/// The question form and the questions asked so far.
#[component]
pub fn AskView() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let chosen = RwSignal::new(VecSet::<String>::default());
    let everyone = RwSignal::new(false);
    let question = RwSignal::new(String::new());
    let timeout_s = RwSignal::new(3.0f64);
    let ask = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let targets = if everyone.get() {
            Targets::All
        } else {
            Targets::Names(chosen.get().into_iter().map(|(name, ())| name).collect())
        };
        send(
            context,
            BridgeCommand::Ask {
                targets,
                question: Payload::from(question.get()),
                timeout_ms: (timeout_s.get().max(0.1) * 1000.0) as u64,
            },
        );
    };
    let peer_choices = move || {
        dash.with(Parts::PEERS, |dash| dash.peers.live_names())
            .into_iter()
            .map(|name| {
                let for_check = name.clone();
                let for_toggle = name.clone();
                view! {
                    <label class="choice">
                        <input type="checkbox" data-testid="ask-peer"
                            prop:checked=move || chosen.with(|c| c.contains_key(&for_check))
                            on:change=move |_| chosen.update(|c| {
                                if c.remove(&for_toggle).is_none() { c.add(for_toggle.clone()); }
                            })/>
                        {name}
                    </label>
                }
            })
            .collect::<Vec<_>>()
    };
    let asked = move || {
        dash.with(Parts::ASKS, |dash| {
            dash.asks.newest_first().map(ask_card).collect::<Vec<_>>()
        })
    };
    view! {
        <section class="card ask" aria-labelledby="ask-title">
            <h2 id="ask-title">"Ask"</h2>
            <form class="controls" on:submit=ask>
                <fieldset>
                    <legend>"Peers"</legend>
                    <label class="choice">
                        <input type="checkbox" data-testid="ask-all"
                            prop:checked=move || everyone.get() on:change=move |_| everyone.update(|e| *e = !*e)/>
                        "all"
                    </label>
                    {peer_choices}
                </fieldset>
                <label>"Question "
                    <input type="text" required data-testid="ask-question"
                        prop:value=move || question.get() on:input=move |ev| question.set(event_target_value(&ev))/>
                </label>
                <label>"Timeout (s) "
                    <input type="number" min="0.1" step="0.1" data-testid="ask-timeout"
                        value="3"
                        on:input=move |ev| if let Some(v) = parse_float(&event_target_value(&ev)) { timeout_s.set(v) }/>
                </label>
                <button type="submit" data-testid="ask-button">"Ask"</button>
                <ErrorNote action=Action::Ask/>
            </form>
            <div class="asks">{asked}</div>
        </section>
    }
}

fn ask_card(ask: &AskState) -> impl IntoView {
    let title = format!(
        "#{} {}{}",
        ask.question_id,
        ask.question.as_text().unwrap_or("(bytes)"),
        if ask.done { "" } else { " (waiting)" }
    );
    let mut names: Vec<String> = match &ask.targets {
        Targets::Names(names) => names.clone(),
        Targets::All => Vec::new(),
    };
    for name in ask.outcomes.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let rows = names
        .into_iter()
        .map(|name| {
            let state = ask.state_of(&name);
            let detail = match ask.outcomes.get(&name) {
                Some(AskOutcome::Answered {
                    payload,
                    latency_ms,
                }) => format!(
                    "{} ({latency_ms} ms)",
                    payload.as_text().unwrap_or("(bytes)")
                ),
                Some(AskOutcome::NoAnswer(no)) => no.to_string(),
                None => String::new(),
            };
            view! {
                <tr class=format!("outcome {state}") data-testid="ask-outcome">
                    <td>{name}</td><td data-testid="ask-state">{state}</td><td>{detail}</td>
                </tr>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <article class="ask-card" data-testid="ask-card">
            <h3>{title}</h3>
            <table><tbody>{rows}</tbody></table>
        </article>
    }
}
