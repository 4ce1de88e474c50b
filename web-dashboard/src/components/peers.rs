//! The peers view: a live table of every peer seen (name, address, services with `ip:port`, topics, first and
//! last seen, state), updated in place as events arrive, filterable by name or service and sortable. A peer that
//! speaks an older protocol through a Herald gateway (and so its services) carries a badge naming it.

use leptos::prelude::*;

use crate::state::peers::SortBy;
use crate::DashContext;

/// The peer table with its filter and sort controls.
#[component]
pub fn PeersView() -> impl IntoView {
    let dash = expect_context::<DashContext>().dash;
    let filter = RwSignal::new(String::new());
    let sort = RwSignal::new(SortBy::Name);
    let rows = move || {
        dash.with(|dash| {
            dash.peers
                .rows(&filter.get(), sort.get())
                .into_iter()
                .map(|peer| {
                    let badge = dash.peers.legacy_badge(peer).map(|badge| {
                        view! {
                            <span class="badge legacy" data-testid="peer-badge" title=badge.title>
                                {badge.label}
                            </span>
                        }
                    });
                    let services = peer
                        .services
                        .iter()
                        .map(|(name, addr)| format!("{name} {addr}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let state = format!("{:?}", peer.state).to_lowercase();
                    let class = format!("peer {state}");
                    view! {
                        <tr class=class data-testid="peer-row">
                            <td><span data-testid="peer-name">{peer.name.clone()}</span>" "{badge}</td>
                            <td>{peer.addr.to_string()}</td>
                            <td>{services}</td>
                            <td>{peer.topics.join(", ")}</td>
                            <td>{clock(peer.first_seen_ms)}</td>
                            <td>{clock(peer.last_seen_ms)}</td>
                            <td data-testid="peer-state">{state}</td>
                        </tr>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let node_name = move || {
        dash.with(|dash| {
            dash.node
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or_default()
        })
    };
    view! {
        <section class="peers" aria-labelledby="peers-title">
            <h2 id="peers-title">"Peers " <small data-testid="node-name">{node_name}</small></h2>
            <div class="controls">
                <label>"Filter "
                    <input type="search" placeholder="name or service" data-testid="peer-filter"
                        prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))/>
                </label>
                <label>"Sort "
                    <select data-testid="peer-sort" on:change=move |ev| sort.set(match event_target_value(&ev).as_str() {
                        "address" => SortBy::Address,
                        "last_seen" => SortBy::LastSeen,
                        "state" => SortBy::State,
                        _ => SortBy::Name,
                    })>
                        <option value="name">"name"</option>
                        <option value="address">"address"</option>
                        <option value="last_seen">"last seen"</option>
                        <option value="state">"state"</option>
                    </select>
                </label>
            </div>
            <div class="table-scroll">
                <table>
                    <thead><tr>
                        <th>"Name"</th><th>"Address"</th><th>"Services"</th><th>"Topics"</th>
                        <th>"First seen"</th><th>"Last seen"</th><th>"State"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

/// `HH:MM:SS` (UTC) of a unix-ms time.
pub fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}
