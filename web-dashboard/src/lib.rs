//! Herald's dashboard: a Leptos client-side app that shows a node's bridge in the browser.
//!
//! # Layout
//! - [`state`]: pure Rust, no Leptos: the connection state and everything the bridge sent ([`state::Dashboard`]). Tested natively.
//! - [`num`]: numbers written and read without core's float formatting and parsing (smaller wasm).
//! - [`text`]: lower case for the filters, from the browser (smaller wasm).
//! - [`store`]: the reactive face of [`state`]: one trigger per part, so an event repaints only its views.
//! - [`connection`]: the only module that touches the WebSocket; it feeds [`state`] through callbacks.
//! - [`components`]: one view per file: `connection_bar` (with the token prompt), `overview` (counts, rates,
//!   trouble), `network` (the SVG picture and a peer's detail), `peers`, `messages` (subscribe, publish,
//!   feed), `ask`, `history` (table and timeline chart), `event_log`, `error_note` (an action's error beside
//!   it), and `time` (local times with UTC on hover).
//!
//! [`App`] is the shell: it creates the signals, provides them as context, starts the connection and lays out
//! the views.

pub mod components;
pub mod connection;
pub mod num;
pub mod state;
pub mod store;
pub mod text;

use leptos::prelude::*;

use crate::components::ask::AskView;
use crate::components::connection_bar::ConnectionBar;
use crate::components::event_log::EventLogView;
use crate::components::history::HistoryView;
use crate::components::messages::MessagesView;
use crate::components::network::NetworkView;
use crate::components::overview::OverviewView;
use crate::components::peers::PeersView;
use crate::state::ConnState;
pub use crate::store::Dash;

/// What every view may read, provided as context by [`App`].
#[derive(Clone, Copy)]
pub struct DashContext {
    /// The bridge connection's state.
    pub conn: RwSignal<ConnState>,
    /// Everything the bridge sent, with a trigger per part.
    pub dash: Dash,
    /// The peer whose detail is open in the network view (by name).
    pub selected: RwSignal<Option<String>>,
    /// Times the page reconnected to the bridge after losing it (the bar says so).
    pub reconnects: RwSignal<u32>,
    /// Whether the bridge refused the page's token (or the page has none and the bridge wants one).
    pub token_refused: RwSignal<bool>,
    /// The open WebSocket, if any (browser objects stay on this thread).
    pub socket: StoredValue<Option<web_sys::WebSocket>, LocalStorage>,
}

impl DashContext {
    /// A context with nothing received yet and no socket.
    pub fn new() -> DashContext {
        DashContext {
            conn: RwSignal::new(ConnState::Connecting),
            dash: Dash::new(),
            selected: RwSignal::new(None),
            reconnects: RwSignal::new(0),
            token_refused: RwSignal::new(false),
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
            <OverviewView/>
            <NetworkView/>
            <PeersView/>
            <MessagesView/>
            <AskView/>
            <HistoryView/>
            <EventLogView/>
        </main>
    }
}
