//! Text as the page compares it: [`lowercase`] for the case-insensitive filters. In the browser it is
//! JavaScript's `toLowerCase`, so the wasm does not carry Rust's Unicode case tables (about 15 KiB); natively,
//! for the tests, it is Rust's `to_lowercase` (the two agree but for a few locale-free special cases).

/// `text` in lower case.
pub fn lowercase(text: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    return js_sys::JsString::from(text).to_lower_case().into();
    #[cfg(not(target_arch = "wasm32"))]
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lowercase_covers_more_than_ascii() {
        assert_eq!(super::lowercase("Web-1 ÉTÉ"), "web-1 été");
    }
}
