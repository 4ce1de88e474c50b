//! Numbers as the page writes and reads them, without core's float formatting and parsing: with them the wasm
//! carries `f64`'s `Display` and `FromStr` (their algorithms and tables, about 25 KiB). SVG coordinates are
//! written with one decimal ([`dec1`]), and in the browser the float maths ([`cos`], [`sin`], [`log10`]) and
//! [`parse_float`] are JavaScript's (natively, for the tests, they are Rust's).

/// `x` with one decimal (`12.3`, `-0.5`, `7.0`; halves round away from zero); `0.0` for NaN and infinities.
pub fn dec1(x: f64) -> String {
    let tenths = if x.is_finite() {
        (x * 10.0).round() as i64
    } else {
        0
    };
    let sign = if tenths < 0 { "-" } else { "" };
    let tenths = tenths.unsigned_abs();
    format!("{sign}{}.{}", tenths / 10, tenths % 10)
}

/// `x` rounded to a whole number.
pub fn whole(x: f64) -> String {
    (x.round() as i64).to_string()
}

/// The number at the start of `text` (after blanks), as a browser's `parseFloat` reads it; `None` when there
/// is none.
pub fn parse_float(text: &str) -> Option<f64> {
    #[cfg(target_arch = "wasm32")]
    let value = js_sys::parse_float(text);
    #[cfg(not(target_arch = "wasm32"))]
    let value = text.trim().parse().unwrap_or(f64::NAN);
    (!value.is_nan()).then_some(value)
}

/// The cosine of `x` (radians).
pub fn cos(x: f64) -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Math::cos(x);
    #[cfg(not(target_arch = "wasm32"))]
    x.cos()
}

/// The sine of `x` (radians).
pub fn sin(x: f64) -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Math::sin(x);
    #[cfg(not(target_arch = "wasm32"))]
    x.sin()
}

/// The base-10 logarithm of `x`.
pub fn log10(x: f64) -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Math::log10(x);
    #[cfg(not(target_arch = "wasm32"))]
    x.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_decimal_as_format_writes_it() {
        for x in [
            0.0,
            0.04,
            0.05,
            1.26,
            12.34,
            860.0,
            1e6 + 0.26,
            -0.5,
            -3.04,
            -0.04,
        ] {
            assert_eq!(
                dec1(x).parse::<f64>().unwrap(),
                format!("{x:.1}").parse::<f64>().unwrap(),
                "{x}"
            );
        }
        assert_eq!(dec1(12.34), "12.3");
        assert_eq!(dec1(-3.06), "-3.1");
        assert_eq!(dec1(7.0), "7.0");
        assert_eq!(dec1(f64::NAN), "0.0");
        assert_eq!(whole(41.6), "42");
        assert_eq!(parse_float(" 2.5"), Some(2.5));
        assert_eq!(parse_float("x"), None);
    }
}
