//! The error shown next to an action: the bridge's last error for it, until the action next succeeds.

use leptos::prelude::*;

use crate::state::{Action, Parts};
use crate::DashContext;

/// The latest error of `action`, if any, as an alert next to its form (announced by screen readers).
#[component]
pub fn ErrorNote(action: Action) -> impl IntoView {
    let dash = expect_context::<DashContext>().dash;
    let error =
        Memo::new(move |_| dash.with(Parts::ERRORS, |dash| dash.errors.get(&action).cloned()));
    view! {
        <Show when=move || error.with(Option::is_some)>
            <p class="error" role="alert" data-testid="action-error">{move || error.get().map(|e| format!("⚠ {e}"))}</p>
        </Show>
    }
}
