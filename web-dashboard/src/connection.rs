//! The bridge connection: the only module that touches the browser's `WebSocket`.
//!
//! It opens `ws(s)://<page host>/ws` (with the page's `?token=` when there is one), keeps [`ConnState`] up to
//! date, and reconnects after a close with [`Backoff`]. Each event is applied to the [`Dashboard`] from the
//! `onmessage` callback as it arrives (never through a latest-message signal); [`send`] numbers a command and
//! sends it on the open socket.

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, WebSocket};

use herald_core::bridge::{BridgeCommand, BridgeEvent};
use web_sys::MessageEvent;

use crate::state::{Action, Backoff, ConnState, Dashboard};
use crate::DashContext;

/// Sends `command` to the bridge; when the socket is not open the action shows an error at once.
pub fn send(context: DashContext, command: BridgeCommand) {
    let action = Action::of(&command);
    let sent = context.socket.with_value(|socket| {
        let socket = socket
            .as_ref()
            .filter(|s| s.ready_state() == WebSocket::OPEN)?;
        let request = context.dash.try_update(|dash| dash.request(command))?;
        socket.send_with_str(&request.to_json()).ok()
    });
    if sent.is_none() {
        context.dash.update(|dash| {
            dash.errors
                .insert(action, "not connected to the bridge".into());
        });
    }
}

/// Applies one text frame from the bridge.
fn on_text(context: DashContext, text: &str) {
    let event = match BridgeEvent::from_json(text) {
        Ok(event) => event,
        Err(err) => {
            leptos::logging::warn!("unreadable frame from the bridge ({err}): {text}");
            context.dash.update(|dash| dash.unreadable += 1);
            return;
        }
    };
    match &event {
        BridgeEvent::Lagged { missed } => {
            let missed = *missed;
            context.conn.update(|conn| {
                let total = match conn {
                    ConnState::Lagging { missed: before } => *before + missed,
                    _ => missed,
                };
                *conn = ConnState::Lagging { missed: total };
            });
        }
        BridgeEvent::Snapshot(_) => context.conn.set(ConnState::Live),
        _ => {}
    }
    context.dash.update(|dash| dash.apply(event));
}

/// Starts connecting to the bridge that served this page; reconnects forever with backoff.
pub fn start(context: DashContext) {
    let conn = context.conn;
    let Some(url) = bridge_url() else {
        conn.set(ConnState::Disconnected {
            reason: "no page location".into(),
            retry_in_ms: 0,
        });
        return;
    };
    connect(url, context, Backoff::default());
}

/// The WebSocket URL of the bridge that served this page.
/// The host (and port) that served this page: the bridge's address.
pub fn bridge_host() -> Option<String> {
    web_sys::window()?.location().host().ok()
}

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

fn connect(url: String, context: DashContext, mut backoff: Backoff) {
    let conn = context.conn;
    conn.set(ConnState::Connecting);
    let socket = match WebSocket::new(&url) {
        Ok(socket) => socket,
        Err(_) => {
            schedule_retry(url, context, backoff, "bad bridge address".into());
            return;
        }
    };
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        if let Some(text) = event.data().as_string() {
            on_text(context, &text);
        }
    });
    socket.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    context.socket.set_value(Some(socket.clone()));
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
        context.dash.update(Dashboard::connection_lost);
        schedule_retry(retry_url.clone(), context, backoff, reason);
    });
    socket.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    onclose.forget();
}

fn schedule_retry(url: String, context: DashContext, mut backoff: Backoff, reason: String) {
    let conn = context.conn;
    let delay = backoff.next_delay_ms();
    conn.set(ConnState::Disconnected {
        reason,
        retry_in_ms: delay,
    });
    set_timeout(
        move || connect(url, context, backoff),
        std::time::Duration::from_millis(delay.into()),
    );
}
