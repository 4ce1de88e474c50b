//! Browser tests of the dashboard, run in headless Chromium by `cargo xtask test` (`wasm-pack test`).
#![cfg(target_arch = "wasm32")]

use herald_core::bridge::{BridgeEvent, PeerInfo, PeerState, Snapshot};
use herald_core::{NodeId, PeerKind};
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
        first_seen_ms: 1_000,
        last_seen_ms: 2_000,
        state,
    }
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
        d.apply(BridgeEvent::Snapshot(Snapshot {
            node: peer("hub", "10.0.0.1", PeerState::Live),
            peers: vec![peer("bravo", "10.0.0.3", PeerState::Live)],
            subscriptions: Vec::new(),
            recent: Vec::new(),
        }))
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
}
