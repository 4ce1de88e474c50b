//! Fuzz target: the bridge's JSON request and event parsers on arbitrary text.
#![no_main]

use herald_core::bridge::{BridgeEvent, BridgeRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(request) = BridgeRequest::from_json(text) {
            assert_eq!(
                BridgeRequest::from_json(&request.to_json()).unwrap(),
                request
            );
        }
        let _ = BridgeEvent::from_json(text);
    }
});
