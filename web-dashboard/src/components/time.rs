//! Times as the page shows them: in the browser's local time zone, with the UTC time on hover.

use leptos::prelude::*;

fn date(ms: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64))
}

/// `HH:MM:SS` in the browser's time zone.
pub fn local_clock(ms: u64) -> String {
    let d = date(ms);
    format!(
        "{:02}:{:02}:{:02}",
        d.get_hours(),
        d.get_minutes(),
        d.get_seconds()
    )
}

/// `MM-DD HH:MM` in the browser's time zone (for chart ticks a day or more apart).
pub fn local_day_clock(ms: u64) -> String {
    let d = date(ms);
    format!(
        "{:02}-{:02} {:02}:{:02}",
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

/// The full UTC time, for a tooltip: `2026-11-29T12:00:00.000Z UTC`.
pub fn utc(ms: u64) -> String {
    format!("{} UTC", String::from(date(ms).to_iso_string()))
}

/// A `<time>` showing `ms` as local `HH:MM:SS`, with UTC on hover.
#[component]
pub fn Time(ms: u64) -> impl IntoView {
    let iso = String::from(date(ms).to_iso_string());
    view! { <time datetime=iso title=utc(ms)>{local_clock(ms)}</time> }
}
