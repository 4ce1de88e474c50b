//! Herald's dashboard: a Leptos client-side app that shows a node's bridge in the browser.
//!
//! # Layout
//! - [`state`]: pure Rust, no Leptos: the connection state and everything the bridge sent ([`state::Dashboard`]). Tested natively.
//! - [`connection`]: the only module that touches the WebSocket; it feeds [`state`] through callbacks.
//! - [`components`]: one view per file (`connection_bar` for now; peers, publish, ask, IP history follow).
//!
//! [`App`] is the shell: it creates the signals, provides them as context, starts the connection and lays out
//! the views.

pub mod components;
pub mod connection;
pub mod state;

use leptos::prelude::*;

use crate::components::connection_bar::ConnectionBar;
use crate::state::ConnState;

/// What every view may read, provided as context by [`App`].
#[derive(Clone, Copy)]
pub struct DashContext {
    /// The bridge connection's state.
    pub conn: RwSignal<ConnState>,
}

/// The whole dashboard.
#[component]
pub fn App() -> impl IntoView {
    let conn = RwSignal::new(ConnState::Connecting);
    provide_context(DashContext { conn });
    connection::start(conn);
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
            <p class="hint">"Peers, messages, questions and IP history appear here once the node's bridge is live."</p>
        </main>
    }
}
