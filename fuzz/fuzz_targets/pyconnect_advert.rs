//! Fuzz target: pythonConnect's advert datagrams on arbitrary bytes. A datagram that reads as an advert is
//! written back as exactly the same bytes.
#![no_main]

use herald_core::legacy::pyconnect::Advert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    if let Ok(advert) = Advert::decode(datagram) {
        assert_eq!(advert.encode(), datagram);
        assert_eq!(Advert::decode(&advert.encode()), Ok(advert));
    }
});
