//! The connection bar: the bridge connection's state, always visible at the top.

use leptos::prelude::*;

use crate::DashContext;

/// Shows the connection state (connecting, live, lagging, disconnected with the reason and the retry delay).
#[component]
pub fn ConnectionBar() -> impl IntoView {
    let conn = expect_context::<DashContext>().conn;
    view! {
        <div class="connection-bar" role="status" aria-live="polite">
            <span class=move || format!("conn-state {}", conn.with(|c| c.key())) data-testid="connection-state">
                {move || conn.with(|c| c.to_string())}
            </span>
        </div>
    }
}
