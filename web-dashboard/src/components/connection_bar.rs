//! The connection bar: the bridge connection's state, always visible at the top, a note when the page
//! reconnected by itself, and the token prompt when the bridge wants an access token.

use leptos::prelude::*;

use crate::state::Parts;
use crate::DashContext;

/// Shows the bridge's address, the connection state (connecting, live, lagging, disconnected with the reason
/// and the retry delay; a word and a symbol, not colour alone) and, once the snapshot arrived, the node's name.
#[component]
pub fn ConnectionBar() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let (conn, dash) = (context.conn, context.dash);
    let address = crate::connection::bridge_host().unwrap_or_default();
    let node = move || {
        dash.with(Parts::NODE, |dash| {
            dash.node
                .as_ref()
                .map(|n| format!("node {}", n.name))
                .unwrap_or_default()
        })
    };
    let unreadable = move || dash.with(Parts::ERRORS, |d| d.unreadable);
    let reconnects = context.reconnects;
    view! {
        <div class="connection-bar" role="status" aria-live="polite">
            <span class="bridge-address" data-testid="bridge-address">{address}</span>
            <span class=move || format!("conn-state {}", conn.with(|c| c.key())) data-testid="connection-state">
                {move || conn.with(|c| c.to_string())}
            </span>
            <span class="node-name" data-testid="bar-node-name">{node}</span>
            <Show when=move || { reconnects.get() > 0 }>
                <span class="notice" data-testid="reconnected">
                    {move || format!("↻ reconnected by itself ({}×)", reconnects.get())}
                </span>
            </Show>
            <Show when=move || { unreadable() > 0 }>
                <span class="error" data-testid="unreadable">
                    {move || format!("{} unreadable frames (see the console)", unreadable())}
                </span>
            </Show>
        </div>
        <TokenPrompt/>
    }
}

/// Asks for the bridge's access token after the bridge refused the page's (or it had none).
#[component]
fn TokenPrompt() -> impl IntoView {
    let context = expect_context::<DashContext>();
    let token = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let given = token.get_untracked();
        if !given.trim().is_empty() {
            crate::connection::use_token(context, given.trim());
        }
    };
    view! {
        <Show when=move || context.token_refused.get()>
            <form class="token-prompt card" on:submit=submit data-testid="token-prompt">
                <p class="error" role="alert" data-testid="token-refused">
                    "⚠ The bridge refused this page's access token. Enter the token (it is kept for this tab only)."
                </p>
                <label>"Access token "
                    <input type="password" autocomplete="off" required data-testid="token-input"
                        prop:value=move || token.get() on:input=move |ev| token.set(event_target_value(&ev))/>
                </label>
                <button type="submit" data-testid="token-button">"Connect"</button>
            </form>
        </Show>
    }
}
