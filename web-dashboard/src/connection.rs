//! The bridge connection: the only module that touches the browser's `WebSocket`.
//!
//! It opens `ws(s)://<page host>/ws` (with the page's `?token=` when there is one), keeps [`ConnState`] up to
//! date, and reconnects after a close with [`Backoff`]. Events will be applied to the dashboard state from the
//! `onmessage` callback as they arrive (never through a latest-message signal).

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, WebSocket};

use crate::state::{Backoff, ConnState};

/// Starts connecting to the bridge that served this page; reconnects forever with backoff.
pub fn start(conn: RwSignal<ConnState>) {
    let Some(url) = bridge_url() else {
        conn.set(ConnState::Disconnected {
            reason: "no page location".into(),
            retry_in_ms: 0,
        });
        return;
    };
    connect(url, conn, Backoff::default());
}

/// The WebSocket URL of the bridge that served this page.
fn bridge_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().ok()?;
    let search = location.search().unwrap_or_default();
    Some(format!("{scheme}://{host}/ws{search}"))
}

fn connect(url: String, conn: RwSignal<ConnState>, mut backoff: Backoff) {
    conn.set(ConnState::Connecting);
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(_) => {
            schedule_retry(url, conn, backoff, "bad bridge address".into());
            return;
        }
    };
    let onopen = Closure::<dyn FnMut()>::new(move || conn.set(ConnState::Live));
    socket.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    onopen.forget();

    let retry_url = url.clone();
    let onclose = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
        let was_live = matches!(
            conn.get_untracked(),
            ConnState::Live | ConnState::Lagging { .. }
        );
        if was_live {
            backoff.reset();
        }
        let reason = match event.reason() {
            reason if !reason.is_empty() => reason,
            _ if was_live => format!("closed (code {})", event.code()),
            _ => "bridge unreachable".to_owned(),
        };
        schedule_retry(retry_url.clone(), conn, backoff, reason);
    });
    socket.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    onclose.forget();
}

fn schedule_retry(url: String, conn: RwSignal<ConnState>, mut backoff: Backoff, reason: String) {
    let delay = backoff.next_delay_ms();
    conn.set(ConnState::Disconnected {
        reason,
        retry_in_ms: delay,
    });
    set_timeout(
        move || connect(url, conn, backoff),
        std::time::Duration::from_millis(delay.into()),
    );
}
