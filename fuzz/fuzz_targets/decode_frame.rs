//! Fuzz target: the node-to-node frame decoder on arbitrary bytes; a decoded frame must re-encode to the bytes
//! it came from.
#![no_main]

use herald_core::frame::{self, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while let Ok(Some((decoded, used))) = frame::decode(&data[at..], MAX_FRAME_LEN) {
        let again = frame::encode_to_vec(&decoded).expect("a decoded frame re-encodes");
        assert_eq!(
            frame::decode(&again, MAX_FRAME_LEN).unwrap(),
            Some((decoded, again.len()))
        );
        at += used;
    }
});
