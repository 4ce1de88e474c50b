//! Fuzz target: the link handshake's messages (`herald_core::handshake`): their parsing, not the
//! cryptography. A decoded message must re-encode to bytes that decode to it again, every prefix of those
//! bytes must be "incomplete" (never an error, never another message), and a sealed message's length header
//! must never claim more bytes than arrived or fewer than its tag.
#![no_main]

use herald_core::handshake::{self, HandshakeMessage, NOISE_TAG_LEN, SEALED_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    while let Ok(Some((decoded, used))) = handshake::decode(&data[at..]) {
        assert!(used <= data.len() - at);
        let mut again = Vec::new();
        handshake::encode(&decoded, &mut again).expect("a decoded message re-encodes");
        assert_eq!(
            handshake::decode(&again).unwrap(),
            Some((decoded.clone(), again.len()))
        );
        for cut in 0..again.len() {
            assert_eq!(handshake::decode(&again[..cut]), Ok(None));
        }
        if let HandshakeMessage::Preamble(preamble) = decoded {
            assert_eq!(
                handshake::agree(&preamble, &preamble),
                Ok(preamble.security)
            );
        }
        at += used;
    }
    let mut rest = data;
    while let Ok(Some(len)) = handshake::check_sealed(rest) {
        assert!(len >= NOISE_TAG_LEN);
        assert!(SEALED_HEADER_LEN + len <= rest.len());
        rest = &rest[SEALED_HEADER_LEN + len..];
    }
});
