//! Fuzz target: the Twisted hub's replies on arbitrary bytes. A reply that decodes re-encodes to a datagram
//! that decodes to the same reply.
#![no_main]

use herald_core::legacy::hub::HubReply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    if let Ok(reply) = HubReply::decode(datagram) {
        assert_eq!(HubReply::decode(&reply.encode()), Ok(reply));
    }
});
