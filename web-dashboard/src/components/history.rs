//! The IP history view: per host, its address periods as a timeline chart (an SVG drawn by the app: a time
//! axis with ticks in local time, each period labelled with its address, the current time marked, hover for
//! the period's first and last sighting, zoom between the last hour, day and week) and as a table, filtered
//! by host; `ip_changed` events appear live.

use herald_core::bridge::{BridgeCommand, HistoryQuery};
use leptos::prelude::*;

use super::error_note::ErrorNote;
use super::time::{local_clock, local_day_clock, utc, Time};
use crate::connection::{now_ms, send};
use crate::num::{dec1, whole};
use crate::state::history::{ticks, Zoom};
use crate::state::{Action, Parts};
use crate::DashContext;

/// Width of the bars' area in SVG units (the chart scales to the page).
const CHART_WIDTH: f64 = 860.0;
/// Height of one host's row.
const ROW_HEIGHT: f64 = 22.0;
/// Room for host names on the left.
const LABEL_WIDTH: f64 = 120.0;
/// Room for the time axis below the rows.
const AXIS_HEIGHT: f64 = 26.0;
/// A bar this wide (or wider) carries its address as a label.
const LABELLED_BAR: f64 = 80.0;

/// The query form, the timeline and the table.
#[component]
pub fn HistoryView() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let host = RwSignal::new(String::new());
    let zoom = RwSignal::new(Zoom::Day);
    let query = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let host = host.get().trim().to_owned();
        let from_ms = now_ms().saturating_sub(Zoom::Week.span_ms());
        send(
            context,
            BridgeCommand::History(HistoryQuery {
                host: (!host.is_empty()).then_some(host),
                from_ms: Some(from_ms),
                to_ms: None,
                offset: 0,
                limit: 1000,
            }),
        );
    };
    let chart = move || {
        let filter = host.get();
        let zoom = zoom.get();
        dash.with(Parts::HISTORY, |dash| {
            let to_ms = now_ms().max(dash.now_ms);
            let from_ms = to_ms.saturating_sub(zoom.span_ms());
            let bars = dash.history.timeline(&filter, from_ms, to_ms, CHART_WIDTH);
            let hosts = dash.history.hosts(&filter);
            let rows_height = ROW_HEIGHT * hosts.len().max(1) as f64;
            let height = rows_height + AXIS_HEIGHT;
            let x_of = |ms: u64| {
                LABEL_WIDTH + (ms.saturating_sub(from_ms)) as f64 / zoom.span_ms() as f64 * CHART_WIDTH
            };
            let label_of = |ms: u64| match zoom {
                Zoom::Week => local_day_clock(ms),
                _ => local_clock(ms)[..5].to_owned(),
            };
            let tick_marks = ticks(from_ms, to_ms, 4)
                .into_iter()
                .map(|t| {
                    let x = x_of(t);
                    view! {
                        <g class="tick" data-testid="timeline-tick">
                            <line x1=dec1(x) x2=dec1(x) y1="0" y2=dec1(rows_height + 4.0)/>
                            <text x=dec1(x) y=dec1(rows_height + 18.0) text-anchor="middle">{label_of(t)}</text>
                        </g>
                    }
                })
                .collect::<Vec<_>>();
            let labels = hosts
                .iter()
                .enumerate()
                .map(|(row, name)| {
                    view! {
                        <text x="4" y=dec1((row as f64 + 0.68) * ROW_HEIGHT) class="host-label">{name.to_string()}</text>
                    }
                })
                .collect::<Vec<_>>();
            let rects = bars
                .into_iter()
                .map(|bar| {
                    let y = bar.row as f64 * ROW_HEIGHT + 3.0;
                    let tip = format!(
                        "{} {}\nfirst seen {} ({})\nlast seen {} ({})",
                        bar.host,
                        bar.ip,
                        local_clock(bar.first_seen_ms),
                        utc(bar.first_seen_ms),
                        local_clock(bar.last_seen_ms),
                        utc(bar.last_seen_ms)
                    );
                    let aria = tip.replace('\n', "; ");
                    let label = (bar.width >= LABELLED_BAR).then(|| {
                        view! {
                            <text class="bar-label" x=dec1(LABEL_WIDTH + bar.x + 4.0) y=dec1(y + ROW_HEIGHT * 0.55)>{bar.ip.clone()}</text>
                        }
                    });
                    view! {
                        <g class="bar" tabindex="0" aria-label=aria>
                            <rect data-testid="timeline-bar" class=format!("shade-{}", bar.shade % 6)
                                data-first=bar.first_seen_ms.to_string() data-last=bar.last_seen_ms.to_string()
                                x=dec1(LABEL_WIDTH + bar.x) y=dec1(y) width=dec1(bar.width) height=dec1(ROW_HEIGHT - 6.0)>
                                <title>{tip}</title>
                            </rect>
                            {label}
                        </g>
                    }
                })
                .collect::<Vec<_>>();
            let now_x = x_of(to_ms);
            view! {
                <svg class="timeline" role="img" aria-label=format!("IP timeline of the last {}", zoom.label())
                    data-testid="timeline" viewBox=format!("0 0 {} {}", whole(LABEL_WIDTH + CHART_WIDTH + 8.0), dec1(height))>
                    <line class="axis" x1=whole(LABEL_WIDTH) x2=whole(LABEL_WIDTH + CHART_WIDTH) y1=dec1(rows_height) y2=dec1(rows_height)/>
                    {tick_marks}{labels}{rects}
                    <g class="now" data-testid="timeline-now">
                        <line x1=dec1(now_x) x2=dec1(now_x) y1="0" y2=dec1(rows_height)/>
                        <text x=dec1(now_x - 2.0) y="10" text-anchor="end">"now"</text>
                    </g>
                </svg>
            }
        })
    };
    let rows = move || {
        let filter = host.get();
        dash.with(Parts::HISTORY, |dash| {
            dash.history
                .hosts(&filter)
                .into_iter()
                .flat_map(|h| dash.history.periods(h).iter())
                .map(|p| {
                    view! {
                        <tr data-testid="history-row">
                            <td>{p.host.clone()}</td><td data-testid="history-ip">{p.ip.to_string()}</td>
                            <td><Time ms=p.first_seen_ms/></td><td><Time ms=p.last_seen_ms/></td><td>{p.reports}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let zoom_buttons = Zoom::ALL
        .into_iter()
        .map(|z| {
            view! {
                <button type="button" data-testid=format!("zoom-{}", z.label())
                    aria-pressed=move || (zoom.get() == z).to_string()
                    on:click=move |_| zoom.set(z)>
                    {z.label()}
                </button>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <section class="card history" aria-labelledby="history-title">
            <h2 id="history-title">"IP history"</h2>
            <form class="controls" on:submit=query>
                <label>"Host "
                    <input type="search" placeholder="all hosts" data-testid="history-host"
                        prop:value=move || host.get() on:input=move |ev| host.set(event_target_value(&ev))/>
                </label>
                <button type="submit" data-testid="history-button">"Load"</button>
                <span class="zoom" role="group" aria-label="Show the last">"Last " {zoom_buttons}</span>
                <ErrorNote action=Action::History/>
            </form>
            {move || dash.with(Parts::HISTORY, |dash| dash.history.no_log).then(|| view! {
                <p class="hint" data-testid="history-no-iplog">"no IP log on this node"</p>
            })}
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
