//! Fuzz target: pythonConnect's `/EOL` frame reader and frame parser on an arbitrary byte stream, pushed whole
//! and in pieces (up to the old library's 128-byte reads). Both ways must read the same frames up to the
//! first "too long" (which ends a connection); a frame Herald can send reads back as itself.
#![no_main]

use herald_core::legacy::pyconnect::{PcFrame, PcFrameReader, PyConnectError, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

/// Every text (or error) the reader gives until it wants more bytes or says "too long".
fn drain(reader: &mut PcFrameReader, seen: &mut Vec<Result<String, PyConnectError>>) -> bool {
    loop {
        match reader.next_text() {
            Ok(None) => return true,
            Ok(Some(text)) => {
                assert!(text.len() + 4 <= MAX_FRAME_LEN);
                seen.push(Ok(text));
            }
            Err(PyConnectError::TooLong { .. }) => return false,
            Err(err) => seen.push(Err(err)),
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&piece, stream)) = input.split_first() else {
        return;
    };
    let mut whole = PcFrameReader::new();
    whole.push(stream);
    let mut at_once = Vec::new();
    drain(&mut whole, &mut at_once);

    let mut reader = PcFrameReader::new();
    let mut in_pieces = Vec::new();
    for chunk in stream.chunks(usize::from(piece % 128) + 1) {
        reader.push(chunk);
        if !drain(&mut reader, &mut in_pieces) {
            break;
        }
        assert!(reader.buffered() < MAX_FRAME_LEN);
    }
    assert_eq!(
        at_once, in_pieces,
        "the same stream, pushed whole and in pieces"
    );

    for text in at_once.iter().flatten() {
        let frame = PcFrame::parse(text);
        if let Ok(bytes) = frame.encode() {
            let mut again = PcFrameReader::new();
            again.push(&bytes);
            let text = again.next_text().unwrap().unwrap();
            assert_eq!(PcFrame::parse(&text), frame);
        }
    }
});
