//! Fuzz target: hein's extended-JSON reader on arbitrary bytes. What it reads, written back the way a hein
//! transmitter writes it, reads back the same, unless a string holds `"` or `\`, which hein does not escape.
#![no_main]

use herald_core::legacy::hein::{json_body_to_value, value_to_json_body};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// True when every string and key is one hein writes faithfully.
fn writable(value: &Value) -> bool {
    let plain = |s: &str| !s.contains(['"', '\\']);
    match value {
        Value::String(s) => plain(s),
        Value::Array(items) => items.iter().all(writable),
        Value::Object(map) => map.iter().all(|(k, v)| plain(k) && writable(v)),
        _ => true,
    }
}

fuzz_target!(|body: &[u8]| {
    let Ok(value) = json_body_to_value(body) else {
        return;
    };
    if writable(&value) {
        let written = value_to_json_body(&value);
        assert_eq!(
            json_body_to_value(&written).as_ref(),
            Ok(&value),
            "{written:?}"
        );
    }
});
