//! Herald's dashboard: a Leptos client-side app that shows a node's bridge in the browser.
//!
//! # Layout
//! - [`state`]: pure Rust, no Leptos: the connection state and everything the bridge sent ([`state::Dashboard`]). Tested natively.
//! - [`connection`]: the only module that touches the WebSocket; it feeds [`state`] through callbacks.
//! - [`components`]: one view per file: `connection_bar`, `peers`, `messages` (subscribe, publish, feed),
//!   `ask`, `history` (table and SVG timeline), `event_log`, and `error_note` (an action's error beside it).
//!
//! [`App`] is the shell: it creates the signals, provides them as context, starts the connection and lays out
//! the views.

pub mod components;
pub mod connection;
pub mod state;

use leptos::prelude::*;

use crate::components::ask::AskView;
use crate::components::connection_bar::ConnectionBar;
use crate::components::event_log::EventLogView;
use crate::components::history::HistoryView;
use crate::components::messages::MessagesView;
use crate::components::peers::PeersView;
use crate::state::{ConnState, Dashboard};

/// What every view may read, provided as context by [`App`].
#[derive(Clone, Copy)]
pub struct DashContext {
    /// The bridge connection's state.
    pub conn: RwSignal<ConnState>,
    /// Everything the bridge sent.
    pub dash: RwSignal<Dashboard>,
    /// The open WebSocket, if any (browser objects stay on this thread).
    pub socket: StoredValue<Option<web_sys::WebSocket>, LocalStorage>,
}

impl DashContext {
    /// A context with nothing received yet and no socket.
    pub fn new() -> DashContext {
        DashContext {
            conn: RwSignal::new(ConnState::Connecting),
            dash: RwSignal::new(Dashboard::default()),
            socket: StoredValue::new_local(None),
        }
    }
}

impl Default for DashContext {
    fn default() -> Self {
        DashContext::new()
    }
}

/// The whole dashboard.
#[component]
pub fn App() -> impl IntoView {
    let context = DashContext::new();
    provide_context(context);
    connection::start(context);
    view! { <Shell/> }
}

/// The page layout without starting a connection; tests mount this with a context they drive.
#[component]
pub fn Shell() -> impl IntoView {
    view! {
        <header class="top">
            <h1 data-testid="app-title">"Herald"</h1>
            <ConnectionBar/>
        </header>
        <main>
            <PeersView/>
            <MessagesView/>
            <AskView/>
            <HistoryView/>
            <EventLogView/>
        </main>
    }
}
