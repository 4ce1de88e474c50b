//! Browser tests of the dashboard, run in headless Chromium by `cargo xtask test` (`wasm-pack test`).
#![cfg(target_arch = "wasm32")]

use herald_dashboard::state::ConnState;
use herald_dashboard::{DashContext, Shell};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Mounts the page shell into a fresh `<section>` with a connection state the test controls.
fn open_dashboard(
    conn: RwSignal<ConnState>,
) -> (
    web_sys::HtmlElement,
    leptos::mount::UnmountHandle<impl Mountable>,
) {
    let document = web_sys::window().unwrap().document().unwrap();
    let section = document.create_element("section").unwrap();
    document.body().unwrap().append_child(&section).unwrap();
    let section: web_sys::HtmlElement = section.unchecked_into();
    let handle = leptos::mount::mount_to(section.clone(), move || {
        provide_context(DashContext { conn });
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
    let conn = RwSignal::new(ConnState::Connecting);
    let (root, _dispose) = open_dashboard(conn);
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
