//! pythonConnect's wire: adverts on the multicast group (`hello:,:NAME`, `alive:,:NAME`) and `/EOL`-terminated
//! UTF-8 text frames on TCP (the name frame first, then `MeSsAgE`, `QuEsTiOn`, `AnSwEr`, `quitQUITquit`).
//!
//! The old reader takes at most four reads of 128 bytes and keeps only the first frame of what it read, so a
//! frame (with `/EOL`) must fit [`MAX_FRAME_LEN`] and a writer must not send the next frame before the previous
//! one is consumed: [`PcFrame::encode`] refuses what the old reader cannot take. [`PcFrameReader`] is kinder
//! than the old one: it keeps every frame, and decodes UTF-8 only once a frame is whole.

use std::net::{Ipv4Addr, SocketAddrV4};

/// The group and UDP port of the adverts.
pub const DEFAULT_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 4, 3), 3235);
/// The TCP port devices listen on and connect to.
pub const TCP_PORT: u16 = 4112;
/// Longest frame the old reader takes, `/EOL` included.
pub const MAX_FRAME_LEN: usize = 512;
/// Interval between `alive` adverts.
pub const ADVERT_INTERVAL_MS: u64 = 30_000;
/// The old receive size for adverts (longer datagrams were cut).
pub const MAX_ADVERT_LEN: usize = 256;
/// The field separator, in adverts and frames.
pub const SEPARATOR: &str = ":,:";
/// The frame terminator.
pub const EOL: &str = "/EOL";

const MESSAGE: &str = "MeSsAgE";
const QUESTION: &str = "QuEsTiOn";
const ANSWER: &str = "AnSwEr";
const QUIT: &str = "quitQUITquit";
const PING: &str = "PiNg";
/// Longest question key taken (the old library uses 1..9999).
const MAX_KEY_LEN: usize = 9;

/// Which advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvertKind {
    /// Sent once at start-up.
    Hello,
    /// Sent 20 ms after start-up, every 30 s, and to newcomers.
    Alive,
    /// Any other word (the old library does not check it, so neither does Herald).
    Other(String),
}

/// A datagram on the group: `KIND:,:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Which advert.
    pub kind: AdvertKind,
    /// The device's name.
    pub name: String,
}

/// Why bytes are not pythonConnect, or a frame cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PyConnectError {
    /// Not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// Not the expected layout.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// Longer than the old reader takes.
    #[error("{len} bytes, more than the {max} pythonConnect takes")]
    TooLong {
        /// Bytes (with `/EOL`).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Text the old protocol cannot carry.
    #[error("cannot be sent: {0}")]
    Unsendable(&'static str),
}

impl Advert {
    /// The datagram.
    pub fn encode(&self) -> Vec<u8> {
        let kind = match &self.kind {
            AdvertKind::Hello => "hello",
            AdvertKind::Alive => "alive",
            AdvertKind::Other(word) => word,
        };
        format!("{kind}{SEPARATOR}{}", self.name).into_bytes()
    }

    /// Reads a datagram: UTF-8, exactly two fields, a name without control characters.
    pub fn decode(bytes: &[u8]) -> Result<Advert, PyConnectError> {
        let text = std::str::from_utf8(bytes).map_err(|_| PyConnectError::NotUtf8)?;
        let fields: Vec<&str> = text.split(SEPARATOR).collect();
        let [kind, name] = fields.as_slice() else {
            return Err(PyConnectError::Malformed(
                "an advert has exactly two fields",
            ));
        };
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(PyConnectError::Malformed(
                "an empty name or control characters",
            ));
        }
        let kind = match *kind {
            "hello" => AdvertKind::Hello,
            "alive" => AdvertKind::Alive,
            other => AdvertKind::Other(other.to_owned()),
        };
        Ok(Advert {
            kind,
            name: (*name).to_owned(),
        })
    }
}

/// A frame after the name frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PcFrame {
    /// `MeSsAgE:,:TEXT`.
    Message(String),
    /// `QuEsTiOn:,:KEY:,:TEXT`, answered with the same key.
    Question {
        /// Decimal key.
        key: String,
        /// The question.
        text: String,
    },
    /// `AnSwEr:,:KEY:,:TEXT`.
    Answer {
        /// The question's key.
        key: String,
        /// The answer (empty means none, to the old library).
        text: String,
    },
    /// `quitQUITquit`: the connection ends.
    Quit,
    /// `PiNg` (the old library never sends it).
    Ping,
    /// Anything else (ignored, as the old library does).
    Other(String),
}

impl PcFrame {
    /// Reads a frame's text (without `/EOL`). A message's text is cut at its first separator, as the old
    /// library cuts it; a question or answer without its three fields is `Other`.
    pub fn parse(text: &str) -> PcFrame {
        let mut fields = text.splitn(3, SEPARATOR);
        let kind = fields.next().unwrap_or_default();
        match kind {
            MESSAGE => match fields.next() {
                Some(message) => PcFrame::Message(message.to_owned()),
                None => PcFrame::Other(text.to_owned()),
            },
            QUESTION | ANSWER => match (fields.next(), fields.next()) {
                (Some(key), Some(body)) => {
                    let (key, body) = (key.to_owned(), body.to_owned());
                    if kind == QUESTION {
                        PcFrame::Question { key, text: body }
                    } else {
                        PcFrame::Answer { key, text: body }
                    }
                }
                _ => PcFrame::Other(text.to_owned()),
            },
            QUIT if fields.next().is_none() => PcFrame::Quit,
            PING if fields.next().is_none() => PcFrame::Ping,
            _ => PcFrame::Other(text.to_owned()),
        }
    }

    /// The frame's bytes with `/EOL`; refused when the old reader would lose or misread it.
    pub fn encode(&self) -> Result<Vec<u8>, PyConnectError> {
        let text = match self {
            PcFrame::Message(text) => {
                sendable(text, true)?;
                format!("{MESSAGE}{SEPARATOR}{text}")
            }
            PcFrame::Question { key, text } => {
                check_key(key)?;
                sendable(text, false)?;
                format!("{QUESTION}{SEPARATOR}{key}{SEPARATOR}{text}")
            }
            PcFrame::Answer { key, text } => {
                check_key(key)?;
                sendable(text, false)?;
                format!("{ANSWER}{SEPARATOR}{key}{SEPARATOR}{text}")
            }
            PcFrame::Quit => QUIT.to_owned(),
            PcFrame::Ping => PING.to_owned(),
            PcFrame::Other(text) => {
                sendable(text, false)?;
                text.clone()
            }
        };
        terminated(text)
    }
}

/// A name frame, `NAME/EOL`.
pub fn encode_name(name: &str) -> Result<Vec<u8>, PyConnectError> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(PyConnectError::Unsendable(
            "an empty name or control characters",
        ));
    }
    sendable(name, true)?;
    terminated(name.to_owned())
}

fn terminated(mut text: String) -> Result<Vec<u8>, PyConnectError> {
    text.push_str(EOL);
    if text.len() > MAX_FRAME_LEN {
        return Err(PyConnectError::TooLong {
            len: text.len(),
            max: MAX_FRAME_LEN,
        });
    }
    Ok(text.into_bytes())
}

fn sendable(text: &str, no_separator: bool) -> Result<(), PyConnectError> {
    if text.contains(EOL) {
        return Err(PyConnectError::Unsendable("the text holds \"/EOL\""));
    }
    if no_separator && text.contains(SEPARATOR) {
        return Err(PyConnectError::Unsendable("the text holds \":,:\""));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), PyConnectError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PyConnectError::Unsendable("a key is 1 to 9 decimal digits"));
    }
    Ok(())
}

/// Splits a TCP stream into frames' texts.
#[derive(Debug, Default)]
pub struct PcFrameReader {
    buf: Vec<u8>,
    /// Bytes at the start of `buf` known to hold no `/EOL` start (each byte is searched once).
    searched: usize,
}

impl PcFrameReader {
    /// An empty reader.
    pub fn new() -> PcFrameReader {
        PcFrameReader::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's text without `/EOL` (`Ok(None)`: read more). `TooLong` when [`MAX_FRAME_LEN`]
    /// bytes hold no `/EOL` (the connection should end); `NotUtf8` for a whole frame that is not UTF-8 (it is
    /// consumed; the next frame reads fine).
    pub fn next_text(&mut self) -> Result<Option<String>, PyConnectError> {
        let eol = EOL.as_bytes();
        let from = self.searched;
        let Some(at) = self.buf[from..]
            .windows(eol.len())
            .position(|w| w == eol)
            .map(|at| from + at)
        else {
            self.searched = self.buf.len().saturating_sub(eol.len() - 1);
            if self.buf.len() >= MAX_FRAME_LEN {
                return Err(PyConnectError::TooLong {
                    len: self.buf.len(),
                    max: MAX_FRAME_LEN,
                });
            }
            return Ok(None);
        };
        self.searched = 0;
        if at + eol.len() > MAX_FRAME_LEN {
            self.buf.drain(..at + eol.len());
            return Err(PyConnectError::TooLong {
                len: at + eol.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let frame: Vec<u8> = self.buf.drain(..at + eol.len()).take(at).collect();
        String::from_utf8(frame)
            .map(Some)
            .map_err(|_| PyConnectError::NotUtf8)
    }

    /// Bytes held that are not a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_observed_exchange_encodes_and_parses() {
        assert_eq!(encode_name("alpha").unwrap(), b"alpha/EOL");
        let message = PcFrame::Message("hi zulu".into());
        assert_eq!(message.encode().unwrap(), b"MeSsAgE:,:hi zulu/EOL");
        let question = PcFrame::Question {
            key: "1538".into(),
            text: "q1".into(),
        };
        assert_eq!(question.encode().unwrap(), b"QuEsTiOn:,:1538:,:q1/EOL");
        let answer = PcFrame::Answer {
            key: "1538".into(),
            text: "zulu-says-yes".into(),
        };
        assert_eq!(
            answer.encode().unwrap(),
            b"AnSwEr:,:1538:,:zulu-says-yes/EOL"
        );
        assert_eq!(PcFrame::Quit.encode().unwrap(), b"quitQUITquit/EOL");
        let mut reader = PcFrameReader::new();
        for frame in [&message, &question, &answer, &PcFrame::Quit] {
            reader.push(&frame.encode().unwrap());
        }
        for frame in [message, question, answer, PcFrame::Quit] {
            let text = reader.next_text().unwrap().unwrap();
            assert_eq!(PcFrame::parse(&text), frame);
        }
        assert_eq!(reader.next_text(), Ok(None));
    }

    #[test]
    fn messages_are_cut_at_the_separator_and_short_frames_are_other() {
        assert_eq!(
            PcFrame::parse("MeSsAgE:,:a:,:b"),
            PcFrame::Message("a".into())
        );
        assert_eq!(
            PcFrame::parse("AnSwEr:,:12:,:a:,:b"),
            PcFrame::Answer {
                key: "12".into(),
                text: "a:,:b".into()
            }
        );
        assert_eq!(
            PcFrame::parse("QuEsTiOn:,:12"),
            PcFrame::Other("QuEsTiOn:,:12".into())
        );
        assert_eq!(
            PcFrame::parse("whatever"),
            PcFrame::Other("whatever".into())
        );
    }

    #[test]
    fn what_the_old_reader_cannot_take_is_refused() {
        let long = "x".repeat(MAX_FRAME_LEN);
        assert!(matches!(
            PcFrame::Message(long).encode(),
            Err(PyConnectError::TooLong { .. })
        ));
        let fits = "x".repeat(MAX_FRAME_LEN - "MeSsAgE:,:/EOL".len());
        assert_eq!(
            PcFrame::Message(fits).encode().unwrap().len(),
            MAX_FRAME_LEN
        );
        assert!(PcFrame::Message("a/EOLb".into()).encode().is_err());
        assert!(PcFrame::Message("a:,:b".into()).encode().is_err());
        assert!(PcFrame::Question {
            key: "x1".into(),
            text: "q".into()
        }
        .encode()
        .is_err());
    }

    #[test]
    fn a_character_split_across_reads_and_two_frames_in_one_read() {
        let mut reader = PcFrameReader::new();
        let bytes = "MeSsAgE:,:h\u{e9}/EOLMeSsAgE:,:two/EOL".as_bytes();
        let split = bytes.iter().position(|b| *b == 0xc3).unwrap() + 1;
        reader.push(&bytes[..split]);
        assert_eq!(reader.next_text(), Ok(None));
        reader.push(&bytes[split..]);
        assert_eq!(reader.next_text().unwrap().unwrap(), "MeSsAgE:,:h\u{e9}");
        assert_eq!(reader.next_text().unwrap().unwrap(), "MeSsAgE:,:two");
    }

    #[test]
    fn oversized_and_non_utf8_frames_are_errors() {
        let mut reader = PcFrameReader::new();
        reader.push(&[b'x'; MAX_FRAME_LEN]);
        assert!(matches!(
            reader.next_text(),
            Err(PyConnectError::TooLong { .. })
        ));
        let mut reader = PcFrameReader::new();
        reader.push(b"\xff\xfe/EOLok/EOL");
        assert_eq!(reader.next_text(), Err(PyConnectError::NotUtf8));
        assert_eq!(reader.next_text().unwrap().unwrap(), "ok");
    }

    #[test]
    fn adverts_are_read_as_the_old_library_reads_them() {
        let hello = Advert::decode(b"hello:,:alpha").unwrap();
        assert_eq!(hello.kind, AdvertKind::Hello);
        assert_eq!(hello.encode(), b"hello:,:alpha");
        assert_eq!(
            Advert::decode(b"x:,:zulu").unwrap().kind,
            AdvertKind::Other("x".into())
        );
        assert!(Advert::decode(b"alive:,:a:,:b").is_err());
        assert!(Advert::decode(b"alive").is_err());
        assert!(Advert::decode(b"alive:,:").is_err());
        assert_eq!(Advert::decode(b"\xff:,:a"), Err(PyConnectError::NotUtf8));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = Advert::decode(&bytes);
            let mut reader = PcFrameReader::new();
            reader.push(&bytes);
            for _ in 0..8 {
                if let Ok(Some(text)) = reader.next_text() {
                    let _ = PcFrame::parse(&text);
                }
            }
        }

        #[test]
        fn sendable_frames_round_trip(text in "[^\\x00-\\x1f:/]{0,100}", key in 1u32..9999) {
            for frame in [
                PcFrame::Message(text.clone()),
                PcFrame::Question { key: key.to_string(), text: text.clone() },
                PcFrame::Answer { key: key.to_string(), text: text.clone() },
            ] {
                let mut reader = PcFrameReader::new();
                reader.push(&frame.encode().unwrap());
                prop_assert_eq!(PcFrame::parse(&reader.next_text().unwrap().unwrap()), frame);
            }
        }
    }
}
