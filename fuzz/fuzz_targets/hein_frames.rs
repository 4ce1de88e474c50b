//! Fuzz target: hein's frame decoder on an arbitrary byte stream, pushed whole and in arbitrary pieces. Both
//! ways must give the same frames and errors, every decoded frame must re-encode to bytes that decode to it,
//! and the decoder's buffer stays bounded.
#![no_main]

use herald_core::legacy::hein::{HeinDecoder, HeinError, HeinFrame};
use libfuzzer_sys::fuzz_target;

/// The frame limit under test: small, so oversized frames are common.
const MAX_FRAME: usize = 64;

/// What the decoder said, with the error's details that may depend on the pieces (a length) left out.
#[derive(Debug, PartialEq)]
enum Seen {
    Frame(HeinFrame),
    TooLarge,
    Other(HeinError),
}

fn drain(decoder: &mut HeinDecoder, seen: &mut Vec<Seen>) {
    loop {
        match decoder.next_frame() {
            Ok(None) => break,
            Ok(Some(frame)) => seen.push(Seen::Frame(frame)),
            Err(HeinError::TooLarge { .. }) => seen.push(Seen::TooLarge),
            Err(other) => seen.push(Seen::Other(other)),
        }
    }
    // Waiting for more: what is held is at most a frame and the start of a terminator.
    assert!(
        decoder.buffered() <= MAX_FRAME + 3,
        "{}",
        decoder.buffered()
    );
}

fuzz_target!(|input: &[u8]| {
    // The first byte chooses the piece size of the second run.
    let Some((&piece, stream)) = input.split_first() else {
        return;
    };
    let mut whole = HeinDecoder::new(MAX_FRAME);
    whole.push(stream);
    let mut at_once = Vec::new();
    drain(&mut whole, &mut at_once);

    let mut pieces = HeinDecoder::new(MAX_FRAME);
    let mut in_pieces = Vec::new();
    for chunk in stream.chunks(usize::from(piece % 16) + 1) {
        pieces.push(chunk);
        drain(&mut pieces, &mut in_pieces);
    }
    assert_eq!(
        at_once, in_pieces,
        "the same stream, pushed whole and in pieces"
    );

    for seen in &at_once {
        if let Seen::Frame(frame) = seen {
            let mut bytes = Vec::new();
            frame.encode(&mut bytes);
            let mut again = HeinDecoder::new(usize::MAX);
            again.push(&bytes);
            assert_eq!(again.next_frame(), Ok(Some(frame.clone())), "{bytes:?}");
            assert_eq!(again.buffered(), 0);
        }
    }
});
