//! Fuzz target: the discovery and DynIP-port datagram decoders on arbitrary bytes.
#![no_main]

use herald_core::{discovery, iplog};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(datagram) = discovery::decode_datagram(data) {
        if datagram.auth.is_none() {
            let again = discovery::encode_datagram(&datagram.message, None).expect("re-encodes");
            assert_eq!(
                discovery::decode_datagram(&again).unwrap().message,
                datagram.message
            );
        }
    }
    let _ = iplog::classify_report_datagram(data);
});
