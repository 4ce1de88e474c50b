//! The error shown next to an action: the bridge's last error for it, until the action next succeeds.

use leptos::prelude::*;

use crate::state::Action;
use crate::DashContext;

/// The latest error of `action`, if any, as an alert next to its form.
#[component]
pub fn ErrorNote(action: Action) -> impl IntoView {
    let dash = expect_context::<DashContext>().dash;
    let error = move || dash.with(|dash| dash.errors.get(&action).cloned());
    view! {
        <Show when=move || error().is_some()>
            <p class="error" role="alert" data-testid="action-error">{error}</p>
        </Show>
    }
}
