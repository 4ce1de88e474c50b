//! Fuzz target: the Twisted hub's request datagrams (lookups, registrations, removals) on arbitrary bytes. A
//! request that decodes re-encodes to a datagram that decodes to the same request.
#![no_main]

use herald_core::legacy::hub::{HubRequest, MAX_SERVICE_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    if let Ok(request) = HubRequest::decode(datagram) {
        let service = match &request {
            HubRequest::Lookup { service }
            | HubRequest::Register { service, .. }
            | HubRequest::Remove { service, .. } => service,
        };
        assert!(!service.is_empty() && service.len() <= MAX_SERVICE_LEN);
        assert_eq!(HubRequest::decode(&request.encode()), Ok(request));
    }
});
