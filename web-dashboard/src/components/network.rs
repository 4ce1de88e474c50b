//! The network picture: the peers as an SVG graph drawn by the app (layout in [`crate::state::graph`]): one box
//! per host address, gateways' proxied peers behind them, this node's open links as edges labelled with their
//! traffic (one edge per peer: `→ sent` on the link this node opened, `← received` on the one the peer opened),
//! states coloured and marked. Each peer is a `<g data-testid="peer">` holding a `<text>` with its
//! name; clicking it (or Enter on it) opens its detail: services with copyable `ip:port`, topics, kind, the
//! TXT records of a DNS-SD peer (`key=value`), its software (its answer to `info`, asked with a click), first and last seen, its host's IP history, and a
//! message or a question to send it.

use herald_core::bridge::{BridgeCommand, HistoryQuery, PeerInfo, Targets};
use herald_core::Payload;
use leptos::prelude::*;

use super::error_note::ErrorNote;
use super::peers::{state_mark, state_word};
use super::time::Time;
use crate::connection::send;
use crate::num::{dec1, log10, whole};
use crate::state::graph::{layout, EdgeKind, HOST_WIDTH};
use crate::state::{Action, Parts};
use crate::DashContext;

/// The graph and, beside it, the selected peer's detail.
#[component]
pub fn NetworkView() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let selected = context.selected;
    // The boxes and names change with the peers only; the links' traffic every second, drawn apart.
    let picture = Memo::new(move |_| {
        dash.with(Parts::NODE | Parts::PEERS, |dash| {
            let peers = dash.peers.rows("", crate::state::peers::SortBy::Name);
            layout(dash.node.as_ref(), &peers)
        })
    });
    let link_edges = Memo::new(move |_| {
        let own = dash.with(Parts::NODE, |dash| dash.node.as_ref().map(|n| n.node_id))?;
        let links = dash.with(Parts::STATS, |dash| dash.traffic.links.clone());
        Some(picture.with(|p| p.link_edges(own, &links)))
    });
    let view_box = move || picture.with(|p| format!("0 0 {} {}", whole(p.width), whole(p.height)));
    let hosts = move || {
        picture.with(|p| {
            p.hosts
                .iter()
                .map(|h| {
                    view! {
                        <g class=if h.own { "host own" } else { "host" } data-testid="host">
                            <rect x=dec1(h.x) y=dec1(h.y) width=whole(HOST_WIDTH) height=dec1(h.height) rx="6"/>
                            <text class="host-label" x=dec1(h.x + 6.0) y=dec1(h.y + 13.0)>{h.label.clone()}</text>
                        </g>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let edges = move || {
        let links = link_edges.get().unwrap_or_default();
        picture.with(|p| {
            p.edges
                .iter()
                .chain(links.iter())
                .map(|e| {
                    let (x1, y1, x2, y2) = (e.from.0, e.from.1, e.to.0, e.to.1);
                    let (mid_x, mid_y) = (dec1((x1 + x2) / 2.0), dec1((y1 + y2) / 2.0 - 4.0));
                    let (x1, y1, x2, y2) = (dec1(x1), dec1(y1), dec1(x2), dec1(y2));
                    match &e.kind {
                        EdgeKind::Proxy => view! {
                            <line class="edge proxy" x1=x1 y1=y1 x2=x2 y2=y2/>
                        }
                        .into_any(),
                        EdgeKind::Link(link) => {
                            let width = dec1(1.0 + log10(link.frames() as f64 + 1.0));
                            let title = format!(
                                "links (→ opened by this node, ← by the peer): {} frames; {} queued, {} dropped",
                                link.label(),
                                link.queued,
                                link.dropped
                            );
                            let label = link.label();
                            let class = if link.dropped > 0 {
                                "edge link dropping"
                            } else {
                                "edge link"
                            };
                            view! {
                                <g class=class data-testid="link-edge" data-direction=link.direction()>
                                    <line x1=x1 y1=y1 x2=x2 y2=y2 stroke-width=width/>
                                    <text x=mid_x y=mid_y text-anchor="middle">{label}</text>
                                    <title>{title}</title>
                                </g>
                            }
                            .into_any()
                        }
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let peers = move || {
        picture.with(|p| {
            p.peers
                .iter()
                .map(|spot| {
                    let name = spot.name.clone();
                    let state = state_word(spot.state);
                    let class = format!(
                        "peer {state}{}{}",
                        if spot.own { " own" } else { "" },
                        if spot.proxied { " proxied" } else { "" }
                    );
                    let open = {
                        let name = name.clone();
                        move || selected.set(Some(name.clone()))
                    };
                    let open_key = open.clone();
                    view! {
                        <g class=class data-testid="peer" data-state=state tabindex="0" role="button"
                            aria-label=format!("{name}, {state}; show its detail")
                            on:click=move |_| open()
                            on:keydown=move |ev| if ev.key() == "Enter" || ev.key() == " " { open_key() }>
                            <text x=dec1(spot.x) y=dec1(spot.y)><tspan class="mark">{state_mark(state)}</tspan> " " {name.clone()}</text>
                        </g>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="card network" aria-labelledby="network-title">
            <h2 id="network-title">"Network"</h2>
            <p class="hint legend">"● live  ○ left  ✕ lost · boxes are host addresses · lines are this node's links: → frames it sent, ← frames it received"</p>
            <div class="network-body">
                <svg class="graph" role="group" aria-label="peers by host, with this node's links" data-testid="graph"
                    viewBox=view_box width=move || picture.with(|p| whole(p.width))>
                    {hosts}{edges}{peers}
                </svg>
                <PeerDetail/>
            </div>
        </section>
    }
}

/// The selected peer's detail, with actions.
#[component]
fn PeerDetail() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let dash = context.dash;
    let selected = context.selected;
    let peer = Memo::new(move |_| {
        let name = selected.get()?;
        dash.with(Parts::NODE | Parts::PEERS, |dash| {
            dash.peers
                .get(&name)
                .or(dash.node.as_ref().filter(|n| n.name == name))
                .cloned()
        })
    });
    // Opening a peer asks for its host's IP history (a peer's name is its host's name in the IP log).
    Effect::new(move |_| {
        if let Some(name) = selected.get() {
            send(
                context,
                BridgeCommand::History(HistoryQuery {
                    host: Some(name),
                    from_ms: None,
                    to_ms: None,
                    offset: 0,
                    limit: 100,
                }),
            );
        }
    });
    view! {
        <aside class="detail" aria-live="polite" data-testid="peer-detail">
            {move || match peer.get() {
                None => view! { <p class="hint">"Click a peer (or focus it and press Enter) to see its detail."</p> }.into_any(),
                Some(peer) => detail(context, peer).into_any(),
            }}
        </aside>
    }
}

fn detail(context: DashContext, peer: PeerInfo) -> impl IntoView {
    let dash = context.dash;
    let name = peer.name.clone();
    let services = peer
        .services
        .iter()
        .map(|(service, addr)| {
            let text = addr.to_string();
            let copy = text.clone();
            view! {
                <li data-testid="detail-service">{service.clone()} " " <code>{text}</code> " "
                    <button type="button" class="small" aria-label=format!("copy {copy}")
                        on:click=move |_| copy_text(&copy)>"copy"</button>
                </li>
            }
        })
        .collect::<Vec<_>>();
    // A DNS-SD peer's TXT records, one `key=value` a line (beacons carry a few hundred bytes at most).
    let txt = (!peer.txt.is_empty()).then(|| {
        let records = peer
            .txt
            .iter()
            .map(|(key, value)| view! { <li><code>{format!("{key}={value}")}</code></li> })
            .collect::<Vec<_>>();
        view! { <dt>"TXT"</dt><dd><ul class="plain" data-testid="detail-txt">{records}</ul></dd> }
    });
    let history_of = name.clone();
    let history = move || {
        dash.with(Parts::HISTORY, |dash| {
            let periods = dash.history.periods(&history_of);
            if periods.is_empty() && dash.history.no_log {
                return view! { <li class="hint" data-testid="detail-no-iplog">"no IP log on this node"</li> }
                    .into_any();
            }
            periods
                .iter()
                .map(|p| {
                    view! {
                        <li data-testid="detail-ip">{p.ip.to_string()} " " <Time ms=p.first_seen_ms/> " – " <Time ms=p.last_seen_ms/></li>
                    }
                })
                .collect::<Vec<_>>()
                .into_any()
        })
    };
    let software_of = name.clone();
    let software = move || {
        dash.with(Parts::ASKS, |dash| {
            dash.asks
                .last_answer(&software_of, "info")
                .map(crate::state::asks::software)
        })
    };
    let info_of = name.clone();
    let ask_info = move |_| {
        send(
            context,
            BridgeCommand::Ask {
                targets: Targets::from(info_of.clone()),
                question: Payload::from("info"),
                timeout_ms: 3_000,
            },
        )
    };
    let message = RwSignal::new(String::new());
    let send_to = name.clone();
    let ask_to = name.clone();
    let state = state_word(peer.state);
    view! {
        <h3 data-testid="detail-name">{name.clone()}</h3>
        <dl>
            <dt>"Kind"</dt><dd data-testid="detail-kind">{peer.kind.to_string()}</dd>
            <dt>"State"</dt><dd class=format!("state {state}")>{state_mark(state)} " " {state}</dd>
            <dt>"Address"</dt><dd>{peer.addr.to_string()}</dd>
            <dt>"Node id"</dt><dd><code>{peer.node_id.short()}</code></dd>
            <dt>"First seen"</dt><dd><Time ms=peer.first_seen_ms/></dd>
            <dt>"Last seen"</dt><dd><Time ms=peer.last_seen_ms/></dd>
            <dt>"Software"</dt><dd data-testid="detail-software">{move || match software() {
                Some(software) => software.into_any(),
                None => view! {
                    <button type="button" class="small" data-testid="detail-ask-info" on:click=ask_info.clone()>
                        "ask it (info)"
                    </button>
                }.into_any(),
            }}</dd>
            <dt>"Topics"</dt><dd data-testid="detail-topics">{if peer.topics.is_empty() { "none".to_owned() } else { peer.topics.join(", ") }}</dd>
            {txt}
        </dl>
        <h4>"Services"</h4>
        <ul class="plain">{if services.is_empty() { None } else { Some(services) }}</ul>
        <h4>"IP history of its host"</h4>
        <ul class="plain" data-testid="detail-history">{history}</ul>
        <form class="controls" on:submit=|ev: leptos::ev::SubmitEvent| ev.prevent_default()>
            <label>"Message or question "
                <input type="text" data-testid="detail-text" prop:value=move || message.get()
                    on:input=move |ev| message.set(event_target_value(&ev))/>
            </label>
            <button type="button" data-testid="detail-send" on:click=move |_| send(context, BridgeCommand::Send {
                targets: Targets::from(send_to.clone()),
                payload: Payload::from(message.get_untracked()),
            })>"Send"</button>
            <button type="button" data-testid="detail-ask" on:click=move |_| send(context, BridgeCommand::Ask {
                targets: Targets::from(ask_to.clone()),
                question: Payload::from(message.get_untracked()),
                timeout_ms: 3_000,
            })>"Ask (answers in Ask)"</button>
            <ErrorNote action=Action::Send/>
        </form>
    }
}

/// Puts `text` on the clipboard (where the browser allows it).
fn copy_text(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}
