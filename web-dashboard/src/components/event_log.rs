//! The event log: everything the bridge sent, newest last, filterable by kind or content.

use leptos::prelude::*;

use crate::DashContext;

/// The filter and the log.
#[component]
pub fn EventLogView() -> impl IntoView {
    let dash = expect_context::<DashContext>().dash;
    let filter = RwSignal::new(String::new());
    let entries = move || {
        let filter = filter.get();
        dash.with(|dash| {
            dash.log
                .matching(&filter)
                .into_iter()
                .rev()
                .take(200)
                .map(|entry| {
                    view! {
                        <li data-testid="log-entry"><code>{entry.seq} " " {entry.kind}</code> " " {entry.json.clone()}</li>
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="log" aria-labelledby="log-title">
            <h2 id="log-title">"Event log"</h2>
            <label>"Filter "
                <input type="search" placeholder="peer_joined, alpha, ..." data-testid="log-filter"
                    prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev))/>
            </label>
            <ol class="log-entries" reversed>{entries}</ol>
        </section>
    }
}
