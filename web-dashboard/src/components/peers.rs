//! The peers view: a live table of every peer seen (name, address, services with `ip:port`, topics, first and
//! last seen, state), updated in place as events arrive, filterable by name or service and sortable. A peer that
//! speaks an older protocol through a Herald gateway (and so its services) carries a badge naming it. Rows are
//! keyed by what they show, so a change repaints its own row only; a click on a name opens its detail.

use leptos::prelude::*;

use super::time::Time;
use crate::state::peers::SortBy;
use crate::state::Parts;
use crate::DashContext;

/// One row as shown; the key of its DOM row.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Row {
    name: String,
    badge: Option<(&'static str, String)>,
    addr: String,
    services: String,
    topics: String,
    first_seen_ms: u64,
    last_seen_ms: u64,
    state: &'static str,
}

/// The word for a peer's state (its CSS class and text).
pub fn state_word(state: herald_core::bridge::PeerState) -> &'static str {
    match state {
        herald_core::bridge::PeerState::Live => "live",
        herald_core::bridge::PeerState::Left => "left",
        herald_core::bridge::PeerState::Lost => "lost",
    }
}

/// The symbol beside a state word, so the state is not told by colour alone.
pub fn state_mark(state: &str) -> &'static str {
    match state {
        "live" => "●",
        "left" => "○",
        _ => "✕",
    }
}

/// The peer table with its filter and sort controls.
#[component]
pub fn PeersView() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let filter = RwSignal::new(String::new());
    let sort = RwSignal::new(SortBy::Name);
    let rows = move || {
        let (filter, sort) = (filter.get(), sort.get());
        dash.with(Parts::PEERS, |dash| {
            dash.peers
                .rows(&filter, sort)
                .into_iter()
                .map(|peer| Row {
                    name: peer.name.clone(),
                    badge: dash
                        .peers
                        .legacy_badge(peer)
                        .map(|badge| (badge.label, badge.title)),
                    addr: peer.addr.to_string(),
                    services: peer
                        .services
                        .iter()
                        .map(|(name, addr)| format!("{name} {addr}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    topics: peer.topics.join(", "),
                    first_seen_ms: peer.first_seen_ms,
                    last_seen_ms: peer.last_seen_ms,
                    state: state_word(peer.state),
                })
                .collect::<Vec<_>>()
        })
    };
    let node_name = move || {
        dash.with(Parts::NODE, |dash| {
            dash.node
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or_default()
        })
    };
    let selected = context.selected;
    view! {
        <section class="card peers" aria-labelledby="peers-title">
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
                    <tbody>
                        <For each=rows key=|row| row.clone() let:row>
                            <tr class=format!("peer {}", row.state) data-testid="peer-row">
                                <td>
                                    <button type="button" class="link" data-testid="peer-name"
                                        on:click={let name = row.name.clone(); move |_| selected.set(Some(name.clone()))}>
                                        {row.name.clone()}
                                    </button>
                                    " "
                                    {row.badge.clone().map(|(label, title)| view! {
                                        <span class="badge legacy" data-testid="peer-badge" title=title>{label}</span>
                                    })}
                                </td>
                                <td>{row.addr.clone()}</td>
                                <td>{row.services.clone()}</td>
                                <td>{row.topics.clone()}</td>
                                <td><Time ms=row.first_seen_ms/></td>
                                <td><Time ms=row.last_seen_ms/></td>
                                <td class=format!("state {}", row.state)>
                                    <span aria-hidden="true">{state_mark(row.state)} " "</span>
                                    <span data-testid="peer-state">{row.state}</span>
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}
