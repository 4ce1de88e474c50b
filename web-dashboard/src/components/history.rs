//! The IP history view: per host, its address periods as a table and a timeline (an SVG drawn by the app),
//! filtered by host and time range; `ip_changed` events appear live.

use herald_core::bridge::{BridgeCommand, HistoryQuery};
use leptos::prelude::*;

use super::error_note::ErrorNote;
use super::peers::clock;
use crate::connection::send;
use crate::state::Action;
use crate::DashContext;

/// Width of the timeline in SVG units (it scales to the page).
const CHART_WIDTH: f64 = 600.0;
/// Height of one host's row.
const ROW_HEIGHT: f64 = 18.0;
/// Room for host names on the left.
const LABEL_WIDTH: f64 = 110.0;

/// The query form, the timeline and the table.
#[component]
pub fn HistoryView() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let host = RwSignal::new(String::new());
    let hours = RwSignal::new(24.0f64);
    let query = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let host = host.get().trim().to_owned();
        send(
            context,
            BridgeCommand::History(HistoryQuery {
                host: (!host.is_empty()).then_some(host),
                from_ms: None,
                to_ms: None,
                offset: 0,
                limit: 1000,
            }),
        );
    };
    let chart = move || {
        let filter = host.get();
        let span_ms = (hours.get().max(0.01) * 3_600_000.0) as u64;
        dash.with(|dash| {
            // The chart fits the data, up to the last `hours`.
            let (earliest, latest) = data_range(dash, &filter);
            let to_ms = latest.max(1);
            let from_ms = to_ms.saturating_sub(span_ms).max(earliest).min(to_ms.saturating_sub(1000));
            let bars = dash.history.timeline(&filter, from_ms, to_ms, CHART_WIDTH);
            let hosts = dash.history.hosts(&filter);
            let height = ROW_HEIGHT * hosts.len().max(1) as f64;
            let labels = hosts
                .iter()
                .enumerate()
                .map(|(row, name)| {
                    view! {
                        <text x="0" y=(row as f64 + 0.7) * ROW_HEIGHT class="host-label">{name.to_string()}</text>
                    }
                })
                .collect::<Vec<_>>();
            let rects = bars
                .into_iter()
                .map(|bar| {
                    view! {
                        <rect data-testid="timeline-bar" class=format!("shade-{}", bar.shade % 6)
                            x=LABEL_WIDTH + bar.x y=bar.row as f64 * ROW_HEIGHT + 3.0
                            width=bar.width height=ROW_HEIGHT - 6.0>
                            <title>{format!("{} {}", bar.host, bar.ip)}</title>
                        </rect>
                    }
                })
                .collect::<Vec<_>>();
            view! {
                <svg class="timeline" role="img" aria-label="IP timeline"
                    viewBox=format!("0 0 {} {height}", LABEL_WIDTH + CHART_WIDTH)>
                    {labels}{rects}
                </svg>
            }
        })
    };
    let rows = move || {
        let filter = host.get();
        dash.with(|dash| {
            dash.history
                .hosts(&filter)
                .into_iter()
                .flat_map(|h| dash.history.periods(h).iter())
                .map(|p| {
                    view! {
                        <tr data-testid="history-row">
                            <td>{p.host.clone()}</td><td data-testid="history-ip">{p.ip.to_string()}</td>
                            <td>{clock(p.first_seen_ms)}</td><td>{clock(p.last_seen_ms)}</td><td>{p.reports}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="history" aria-labelledby="history-title">
            <h2 id="history-title">"IP history"</h2>
            <form class="controls" on:submit=query>
                <label>"Host "
                    <input type="search" placeholder="all hosts" data-testid="history-host"
                        prop:value=move || host.get() on:input=move |ev| host.set(event_target_value(&ev))/>
                </label>
                <label>"Last hours "
                    <input type="number" min="0.01" step="any" data-testid="history-hours"
                        prop:value=move || hours.get().to_string()
                        on:input=move |ev| if let Ok(v) = event_target_value(&ev).parse() { hours.set(v) }/>
                </label>
                <button type="submit" data-testid="history-button">"Load"</button>
                <ErrorNote action=Action::History/>
            </form>
            {chart}
            <div class="table-scroll">
                <table>
                    <thead><tr><th>"Host"</th><th>"IP"</th><th>"First seen"</th><th>"Last seen"</th><th>"Reports"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

/// The earliest and latest times of the shown hosts' periods.
fn data_range(dash: &crate::state::Dashboard, filter: &str) -> (u64, u64) {
    let periods = dash
        .history
        .hosts(filter)
        .into_iter()
        .flat_map(|h| dash.history.periods(h).iter());
    periods.fold((u64::MAX, 0), |(earliest, latest), p| {
        (earliest.min(p.first_seen_ms), latest.max(p.last_seen_ms))
    })
}
