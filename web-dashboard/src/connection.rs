//! The bridge connection: the only module that touches the browser's `WebSocket` (and the page's URL and
//! session storage, for the access token).
//!
//! It opens `ws(s)://<page host>/ws` (with the access token when there is one), keeps [`ConnState`] up to
//! date, and reconnects after a close with [`Backoff`]; a reconnect after the page was live is counted, so the
//! bar can say so. Each event is applied to the [`Dashboard`](crate::state::Dashboard) from the `onmessage`
//! callback as it arrives (never through a latest-message signal); [`send`] numbers a command and sends it on
//! the open socket. Once live, the page asks the bridge to push its counters every second (`watch_stats`).
//!
//! # The access token
//! A bridge off loopback wants `?token=`. The page takes it from its own URL once, keeps it in the tab's
//! session storage and removes it from the address bar; a connection that never opens is followed by a probe
//! of `/metrics` with the token, whose 401 tells a refused token from an unreachable bridge. Then the bar
//! shows a token prompt ([`use_token`]) and the page stops retrying until one is given.

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use herald_core::bridge::{BridgeCommand, BridgeEvent};

use crate::state::{Action, Backoff, ConnState, Parts};
use crate::DashContext;

/// The session-storage key of the access token.
const TOKEN_KEY: &str = "herald-token";

/// The page's clock, unix ms.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Sends `command` to the bridge; when the socket is not open the action shows an error at once.
pub fn send(context: DashContext, command: BridgeCommand) {
    let action = Action::of(&command);
    let sent = context.socket.with_value(|socket| {
        let socket = socket
            .as_ref()
            .filter(|s| s.ready_state() == WebSocket::OPEN)?;
        let request = context
            .dash
            .change(Parts::NONE, |dash| dash.request(command));
        socket.send_with_str(&request.to_json()).ok()
    });
    if sent.is_none() {
        context.dash.change(Parts::ERRORS, |dash| {
            dash.errors
                .insert(action, "not connected to the bridge".into());
        });
    }
}

/// Applies one text frame from the bridge.
fn on_text(context: DashContext, text: String) {
    let event = match BridgeEvent::from_json(&text) {
        Ok(event) => event,
        Err(err) => {
            leptos::logging::warn!("unreadable frame from the bridge ({err}): {text}");
            context
                .dash
                .change(Parts::ERRORS, |dash| dash.unreadable += 1);
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
        BridgeEvent::Snapshot(_) => {
            context.conn.set(ConnState::Live);
            // A snapshot after an earlier one: the page lost the bridge and found it again.
            if context.dash.with_untracked(|dash| dash.node.is_some()) {
                context.reconnects.update(|n| *n += 1);
            }
            // Counters every second, for the overview's rates and the graph's edges.
            context.dash.receive(event, text, now_ms());
            send(context, BridgeCommand::WatchStats { on: true });
            return;
        }
        _ => {}
    }
    context.dash.receive(event, text, now_ms());
}

/// Starts connecting to the bridge that served this page; reconnects forever with backoff (but waits for a
/// new token after the bridge refused the page's).
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

/// Uses `token` from now on (kept for the tab) and connects with it.
pub fn use_token(context: DashContext, token: &str) {
    if let Some(storage) = session_storage() {
        let _ = storage.set_item(TOKEN_KEY, token);
    }
    context.token_refused.set(false);
    if let Some(socket) = context.socket.get_value() {
        // The old socket's close must not schedule a retry with the old token.
        socket.set_onclose(None);
        let _ = socket.close();
    }
    start(context);
}

/// The host (and port) that served this page: the bridge's address.
pub fn bridge_host() -> Option<String> {
    web_sys::window()?.location().host().ok()
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok().flatten()
}

/// The access token: from the page's URL the first time (then kept in session storage and removed from the
/// address bar), else from session storage.
fn token() -> Option<String> {
    let window = web_sys::window()?;
    let location = window.location();
    let url = web_sys::Url::new(&location.href().ok()?).ok()?;
    let params = url.search_params();
    if let Some(token) = params.get("token").filter(|t| !t.is_empty()) {
        if let Some(storage) = session_storage() {
            let _ = storage.set_item(TOKEN_KEY, &token);
        }
        params.delete("token");
        url.set_search(&params.to_string().as_string().unwrap_or_default());
        if let Ok(history) = window.history() {
            let _ =
                history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url.href()));
        }
        return Some(token);
    }
    session_storage()?.get_item(TOKEN_KEY).ok().flatten()
}

fn bridge_url() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let host = location.host().ok()?;
    Some(match token() {
        Some(token) => format!(
            "{scheme}://{host}/ws?token={}",
            js_sys::encode_uri_component(&token)
        ),
        None => format!("{scheme}://{host}/ws"),
    })
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
            on_text(context, text);
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
        context
            .dash
            .change(Parts::ERRORS, |dash| dash.connection_lost());
        if was_live {
            schedule_retry(retry_url.clone(), context, backoff, reason);
            return;
        }
        // Never opened: a refused token, or no bridge at all? The token's probe tells.
        let url = retry_url.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if token_refused().await {
                context.token_refused.set(true);
                conn.set(ConnState::Disconnected {
                    reason: "the bridge refused the access token".into(),
                    retry_in_ms: 0,
                });
            } else {
                schedule_retry(url, context, backoff, reason);
            }
        });
    });
    socket.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    onclose.forget();
}

/// Whether the bridge answers 401 to `/metrics` with the page's token (it checks the token as the WebSocket
/// does).
async fn token_refused() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let url = match token() {
        Some(token) => format!("/metrics?token={}", js_sys::encode_uri_component(&token)),
        None => "/metrics".to_owned(),
    };
    let Ok(response) = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(&url)).await
    else {
        return false;
    };
    response
        .dyn_into::<web_sys::Response>()
        .is_ok_and(|response| response.status() == 401)
}

fn schedule_retry(url: String, context: DashContext, mut backoff: Backoff, reason: String) {
    let conn = context.conn;
    let delay = backoff.next_delay_ms();
    conn.set(ConnState::Disconnected {
        reason,
        retry_in_ms: delay,
    });
    set_timeout(
        move || {
            // A token given meanwhile started its own connection.
            if !context.token_refused.get_untracked()
                && matches!(context.conn.get_untracked(), ConnState::Disconnected { .. })
            {
                connect(url, context, backoff)
            }
        },
        std::time::Duration::from_millis(delay.into()),
    );
}
