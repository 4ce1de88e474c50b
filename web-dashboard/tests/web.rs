//! Browser tests of the dashboard, run in headless Chromium by `cargo xtask test` (`wasm-pack test`).
#![cfg(target_arch = "wasm32")]

use herald_core::bridge::{
    BridgeCommand, BridgeEvent, CommandError, CommandOk, CommandResult, HistoryPage, HistoryQuery,
    MessageEvent, PeerInfo, PeerState, Reply, Snapshot, Targets,
};
use herald_core::iplog::{IpChange, IpChangeSource, IpPeriod};
use herald_core::{AskOutcome, NoAnswer, NodeId, PeerKind};
use herald_dashboard::state::ConnState;
use herald_dashboard::{DashContext, Shell};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts the page shell into a fresh `<section>` with a context (connection state, bridge events) the test
/// controls.
fn open_dashboard(
    context: DashContext,
) -> (
    web_sys::HtmlElement,
    leptos::mount::UnmountHandle<impl Mountable>,
) {
    let document = web_sys::window().unwrap().document().unwrap();
    let section = document.create_element("section").unwrap();
    document.body().unwrap().append_child(&section).unwrap();
    let section: web_sys::HtmlElement = section.unchecked_into();
    let handle = leptos::mount::mount_to(section.clone(), move || {
        provide_context(context);
        view! { <Shell/> }
    });
    (section, handle)
}

fn see_text(root: &web_sys::HtmlElement, testid: &str) -> String {
    root.query_selector(&format!("[data-testid={testid}]"))
        .unwrap()
        .unwrap_or_else(|| panic!("no element with data-testid={testid}"))
        .text_content()
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn shows_the_title_and_the_connection_state() {
    let context = DashContext::new();
    let conn = context.conn;
    let (root, _dispose) = open_dashboard(context);
    leptos::task::tick().await;
    assert_eq!(see_text(&root, "app-title"), "Herald");
    assert_eq!(see_text(&root, "connection-state"), "Connecting…");

    conn.set(ConnState::Disconnected {
        reason: "bridge unreachable".into(),
        retry_in_ms: 2000,
    });
    leptos::task::tick().await;
    assert_eq!(
        see_text(&root, "connection-state"),
        "Disconnected (bridge unreachable); retrying in 2.0 s"
    );
}

fn peer(name: &str, ip: &str, state: PeerState) -> PeerInfo {
    PeerInfo {
        node_id: NodeId::from_bytes([name.len() as u8; 16]),
        name: name.into(),
        kind: PeerKind::Herald,
        addr: ip.parse().unwrap(),
        tcp: None,
        services: [("web".to_owned(), format!("{ip}:8080").parse().unwrap())].into(),
        topics: vec!["news".into()],
        via: None,
        site: None,
        txt: Default::default(),
        first_seen_ms: 1_000,
        last_seen_ms: 2_000,
        state,
    }
}

/// The snapshot of a node `hub` (10.0.0.1) with `peers`.
fn hub_snapshot(peers: Vec<PeerInfo>) -> BridgeEvent {
    BridgeEvent::Snapshot(Snapshot {
        node: peer("hub", "10.0.0.1", PeerState::Live),
        peers,
        subscriptions: Vec::new(),
        recent: Vec::new(),
    })
}

fn all_text(root: &web_sys::HtmlElement, testid: &str) -> Vec<String> {
    let found = root
        .query_selector_all(&format!("[data-testid={testid}]"))
        .unwrap();
    (0..found.length())
        .map(|i| found.item(i).unwrap().text_content().unwrap_or_default())
        .collect()
}

#[wasm_bindgen_test]
async fn the_peers_view_follows_the_bridge_events() {
    let context = DashContext::new();
    let dash = context.dash;
    let (root, _dispose) = open_dashboard(context);
    dash.update(|d| {
        d.apply(hub_snapshot(vec![peer(
            "bravo",
            "10.0.0.3",
            PeerState::Live,
        )]))
    });
    leptos::task::tick().await;
    assert_eq!(see_text(&root, "node-name"), "hub");
    assert_eq!(all_text(&root, "peer-name"), ["bravo"]);
    dash.update(|d| {
        d.apply(BridgeEvent::PeerJoined {
            peer: peer("alpha", "10.0.0.2", PeerState::Live),
            at_ms: 3_000,
        });
        d.apply(BridgeEvent::PeerLeft {
            peer: peer("bravo", "10.0.0.3", PeerState::Left),
            at_ms: 4_000,
        });
    });
    leptos::task::tick().await;
    assert_eq!(all_text(&root, "peer-name"), ["alpha", "bravo"]);
    assert_eq!(all_text(&root, "peer-state"), ["live", "left"]);
    let row = root
        .query_selector("[data-testid=peer-row]")
        .unwrap()
        .unwrap();
    assert!(row.text_content().unwrap().contains("web 10.0.0.2:8080"));
    assert!(
        all_text(&root, "peer-badge").is_empty(),
        "Herald peers have no badge"
    );

    // A legacy peer through a gateway: a badge naming its protocol, and the gateway in its title.
    let mut device = peer("zulu", "10.0.0.9", PeerState::Live);
    device.kind = PeerKind::Pythonconnect;
    let gateway = peer("gw", "10.0.0.8", PeerState::Live);
    device.via = Some(gateway.node_id);
    dash.update(|d| {
        d.apply(BridgeEvent::PeerJoined {
            peer: gateway,
            at_ms: 5_000,
        });
        d.apply(BridgeEvent::PeerJoined {
            peer: device,
            at_ms: 5_000,
        })
    });
    leptos::task::tick().await;
    assert_eq!(all_text(&root, "peer-badge"), ["pythonConnect"]);
    let badge = root
        .query_selector("[data-testid=peer-badge]")
        .unwrap()
        .unwrap();
    assert_eq!(
        badge.get_attribute("title").unwrap(),
        "a pythonConnect device, through the Herald gateway gw"
    );
}

fn reply(id: u64, result: CommandResult) -> BridgeEvent {
    BridgeEvent::Reply(Reply {
        id: Some(id),
        result,
    })
}

#[wasm_bindgen_test]
async fn the_messages_view_shows_the_feed_and_a_publish_error_beside_its_form() {
    let context = DashContext::new();
    let dash = context.dash;
    let (root, _dispose) = open_dashboard(context);
    dash.update(|d| {
        for text in ["first", "second"] {
            d.apply(BridgeEvent::Message(MessageEvent {
                from: NodeId::from_bytes([3; 16]),
                from_name: "alpha".into(),
                topic: Some("chat".into()),
                payload: text.into(),
                at_ms: 5_000,
            }));
        }
        let publish = d.request(BridgeCommand::Publish {
            topic: "bad topic".into(),
            payload: "x".into(),
        });
        d.apply(reply(
            publish.id,
            CommandResult::Error(CommandError::BadRequest {
                message: "invalid topic".into(),
            }),
        ));
    });
    leptos::task::tick().await;
    // Newest first.
    assert_eq!(all_text(&root, "feed-body"), ["second", "first"]);
    let errors = all_text(&root, "action-error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("invalid topic"));
    // The error sits inside the publish form.
    let form_error = root
        .query_selector("form:has([data-testid=publish-button]) [data-testid=action-error]")
        .unwrap();
    assert!(form_error.is_some());
}

#[wasm_bindgen_test]
async fn the_ask_view_shows_each_answer_then_the_final_states() {
    let context = DashContext::new();
    let dash = context.dash;
    let (root, _dispose) = open_dashboard(context);
    let pong = AskOutcome::Answered {
        payload: "pong".into(),
        latency_ms: 4,
    };
    dash.update(|d| {
        let ask = d.request(BridgeCommand::Ask {
            targets: Targets::names(["alpha", "ghost"]),
            question: "ping".into(),
            timeout_ms: 1000,
        });
        d.apply(reply(
            ask.id,
            CommandResult::Ok(CommandOk::Asked { question_id: 9 }),
        ));
        d.apply(BridgeEvent::Answer {
            question_id: 9,
            peer: "alpha".into(),
            outcome: pong.clone(),
        });
    });
    leptos::task::tick().await;
    assert_eq!(all_text(&root, "ask-state"), ["answered", "waiting"]);
    dash.update(|d| {
        d.apply(BridgeEvent::AskDone {
            question_id: 9,
            outcomes: [
                ("alpha".to_owned(), pong),
                (
                    "ghost".to_owned(),
                    AskOutcome::NoAnswer(NoAnswer::UnknownPeer),
                ),
            ]
            .into(),
        })
    });
    leptos::task::tick().await;
    assert_eq!(all_text(&root, "ask-state"), ["answered", "unknown"]);
    assert!(all_text(&root, "ask-outcome")[0].contains("pong (4 ms)"));
}

#[wasm_bindgen_test]
async fn the_history_view_draws_periods_and_live_changes() {
    let context = DashContext::new();
    let dash = context.dash;
    let (root, _dispose) = open_dashboard(context);
    // Within the chart's default window (the last day).
    let now = js_sys::Date::now() as u64;
    dash.update(|d| {
        let query = HistoryQuery {
            host: None,
            from_ms: None,
            to_ms: None,
            offset: 0,
            limit: 1000,
        };
        let history = d.request(BridgeCommand::History(query));
        let period = IpPeriod {
            host: "roamer".into(),
            ip: "198.51.100.12".parse().unwrap(),
            first_seen_ms: now - 3_000_000,
            last_seen_ms: now - 2_000_000,
            reports: 3,
        };
        d.apply(reply(
            history.id,
            CommandResult::Ok(CommandOk::History(HistoryPage {
                periods: vec![period],
                total: 1,
                next_offset: None,
            })),
        ));
        d.apply(BridgeEvent::IpChanged(IpChange {
            host: "roamer".into(),
            old_ip: Some("198.51.100.12".parse().unwrap()),
            new_ip: "198.51.100.42".parse().unwrap(),
            at_ms: now - 1_000_000,
            source: IpChangeSource::Discovery,
        }));
    });
    leptos::task::tick().await;
    assert_eq!(
        all_text(&root, "history-ip"),
        ["198.51.100.12", "198.51.100.42"]
    );
    let bars = root
        .query_selector_all("[data-testid=timeline-bar]")
        .unwrap();
    assert_eq!(bars.length(), 2);
    // The log lists every event, the snapshot-less page included.
    assert!(all_text(&root, "log-entry")
        .iter()
        .any(|e| e.contains("ip_changed")));
}

#[wasm_bindgen_test]
async fn unreadable_frames_are_counted_in_the_connection_bar() {
    let context = DashContext::new();
    let dash = context.dash;
    let (root, _dispose) = open_dashboard(context);
    leptos::task::tick().await;
    assert!(all_text(&root, "unreadable").is_empty());
    dash.update(|d| d.unreadable = 2);
    leptos::task::tick().await;
    assert_eq!(
        all_text(&root, "unreadable"),
        ["2 unreadable frames (see the console)"]
    );
}

#[wasm_bindgen_test]
async fn the_overview_and_the_graph_follow_the_peers_and_a_click_opens_the_detail() {
    let context = DashContext::new();
    let dash = context.dash;
    let (root, _dispose) = open_dashboard(context);
    dash.update(|d| {
        d.apply(hub_snapshot(vec![
            PeerInfo {
                txt: [("rp".to_owned(), "printers/x".to_owned())].into(),
                ..peer("alpha", "10.0.0.2", PeerState::Live)
            },
            peer("bravo", "10.0.0.3", PeerState::Live),
        ]))
    });
    leptos::task::tick().await;
    assert_eq!(see_text(&root, "overview-live"), "2");
    let nodes = root.query_selector_all("g[data-testid=peer] text").unwrap();
    assert_eq!(nodes.length(), 3, "the hub and its two peers");
    dash.update(|d| {
        d.apply(BridgeEvent::PeerLost {
            peer: peer("bravo", "10.0.0.3", PeerState::Lost),
            at_ms: 3_000,
        })
    });
    leptos::task::tick().await;
    assert_eq!(see_text(&root, "overview-live"), "1");
    let lost = root
        .query_selector("g[data-testid=peer][data-state=lost]")
        .unwrap()
        .expect("bravo drawn as lost");
    assert!(lost.text_content().unwrap().contains("bravo"));
    let alpha: web_sys::HtmlElement = root
        .query_selector("[data-testid=peer-name]")
        .unwrap()
        .unwrap()
        .unchecked_into();
    alpha.click();
    leptos::task::tick().await;
    assert_eq!(see_text(&root, "detail-name"), "alpha");
    assert!(see_text(&root, "detail-service").contains("10.0.0.2:8080"));
    assert_eq!(see_text(&root, "detail-txt"), "rp=printers/x");
}
