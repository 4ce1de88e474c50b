//! Fuzz target: the node-to-node frame decoder on arbitrary bytes; a decoded frame must re-encode to the bytes
//! it came from, and reading a frame in place (`decode_view`, what a link's reader does) must agree with
//! decoding it whole (topic messages, relayed ones too, read in place): the same bytes taken, the same
//! frame, the same errors.
#![no_main]

use herald_core::frame::{self, Frame, FrameView, Relayed, MAX_FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut at = 0;
    loop {
        let whole = frame::decode(&data[at..], MAX_FRAME_LEN);
        let view = frame::decode_view(&data[at..], MAX_FRAME_LEN);
        assert_eq!(whole.is_ok(), view.is_ok(), "{whole:?} but {view:?}");
        let (Ok(Some((decoded, used))), Ok(Some((viewed, viewed_used)))) = (whole, view) else {
            break;
        };
        assert_eq!(used, viewed_used);
        match (&decoded, viewed) {
            (Frame::Publish(publish), FrameView::Publish(view)) => {
                assert_eq!(view.topic, publish.topic);
                assert_eq!(view.seq, publish.seq);
                assert_eq!(view.payload.0, publish.payload.as_bytes());
            }
            (
                Frame::Relay {
                    peer,
                    frame: Relayed::Publish { from_name, publish },
                },
                FrameView::RelayedPublish { from, publish: view },
            ) => {
                assert_eq!(from.peer, *peer);
                assert_eq!(from.from_name, from_name);
                assert_eq!(view.topic, publish.topic);
                assert_eq!(view.seq, publish.seq);
                assert_eq!(view.payload.0, publish.payload.as_bytes());
            }
            (frame, FrameView::Other(other)) => assert_eq!(frame, &other),
            (frame, view) => panic!("{frame:?} read in place as {view:?}"),
        }
        let again = frame::encode_to_vec(&decoded).expect("a decoded frame re-encodes");
        assert_eq!(
            frame::decode(&again, MAX_FRAME_LEN).unwrap(),
            Some((decoded, again.len()))
        );
        at += used;
    }
});
