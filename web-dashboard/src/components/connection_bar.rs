//! The connection bar: the bridge connection's state, always visible at the top.

use leptos::prelude::*;

use crate::DashContext;

/// Shows the bridge's address, the connection state (connecting, live, lagging, disconnected with the reason
/// and the retry delay) and, once the snapshot arrived, the node's name.
#[component]
pub fn ConnectionBar() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let (conn, dash) = (context.conn, context.dash);
    let address = crate::connection::bridge_host().unwrap_or_default();
    let node = move || {
        dash.with(|dash| {
            dash.node
                .as_ref()
                .map(|n| format!("node {}", n.name))
                .unwrap_or_default()
        })
    };
    view! {
        <div class="connection-bar" role="status" aria-live="polite">
            <span class="bridge-address" data-testid="bridge-address">{address}</span>
            <span class=move || format!("conn-state {}", conn.with(|c| c.key())) data-testid="connection-state">
                {move || conn.with(|c| c.to_string())}
            </span>
            <span class="node-name" data-testid="bar-node-name">{node}</span>
            <Show when=move || dash.with(|d| d.unreadable > 0)>
                <span class="error" data-testid="unreadable">
                    {move || format!("{} unreadable frames (see the console)", dash.with(|d| d.unreadable))}
                </span>
            </Show>
        </div>
    }
}
