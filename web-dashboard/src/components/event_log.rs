//! The event log: everything the bridge sent, newest first, filterable by kind or content.

use leptos::prelude::*;

use crate::state::Parts;
use crate::DashContext;

/// Entries shown at most (the log keeps more; the filter searches them all).
const SHOWN: usize = 200;

/// The filter and the log.
#[component]
pub fn EventLogView() -> impl IntoView {
    let dash = expect_context::<DashContext>().dash;
    let filter = RwSignal::new(String::new());
    let entries = move || {
        let filter = filter.get();
        dash.with(Parts::LOG, |dash| {
            dash.log
                .matching(&filter)
                .into_iter()
                .rev()
                .take(SHOWN)
                .map(|entry| (entry.seq, entry.kind, entry.json.clone()))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="card log" aria-labelledby="log-title">
            <h2 id="log-title">"Event log"</h2>
            <label>"Filter "
                <input type="search" placeholder="peer_joined, alpha, ..." data-testid="log-filter"
                    prop:value=move || filter.get() on:input=move |ev| filter.set(event_target_value(&ev))/>
            </label>
            <ol class="log-entries">
                <For each=entries key=|(seq, _, _)| *seq let:entry>
                    <li data-testid="log-entry"><code>{entry.0} " " {entry.1}</code> " " {entry.2}</li>
                </For>
            </ol>
        </section>
    }
}
