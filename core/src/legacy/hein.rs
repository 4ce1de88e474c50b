//! hein 0.2.3's wire: one transmitter, up to five receivers, over TCP.
//!
//! ```text
//! handshake  transmitter: ACK (0x06) | receiver: NAME (<= 15 bytes, Latin-1) | transmitter: ACK
//! frame      KEY TAG ":" FLAG ":" BODY  AC 96 AC 96
//!            KEY = "__raw__" | "__jsn__" | "__png__" | "__die__"; TAG <= 15 of [A-Za-z0-9.-_ ]; FLAG "0" | "1"
//!            AC 96 inside BODY is sent as AC 96 EE
//! flow       the receiver sends one ACK per read that completed at least one frame
//! ```
//! `__jsn__` bodies are hein's "extended JSON", where every scalar is a string `"<code>:<text>"`
//! ([`json_body_to_value`] turns one into standard JSON; [`value_to_json_body`] writes one).

use serde_json::{Map, Number, Value};

/// The acknowledgement byte.
pub const ACK: u8 = 0x06;
/// What ends every frame.
pub const TERMINATOR: [u8; 4] = [0xAC, 0x96, 0xAC, 0x96];
/// Longest receiver name (the transmitter reads it with one `recv(15)`).
pub const MAX_NAME_LEN: usize = 15;
/// Longest frame tag.
pub const MAX_TAG_LEN: usize = 15;
/// hein's bound on receivers per transmitter.
pub const DEFAULT_MAX_RECEIVERS: usize = 5;

const ESCAPED: [u8; 3] = [0xAC, 0x96, 0xEE];
const MARK: [u8; 2] = [0xAC, 0x96];
/// Nesting allowed in an extended-JSON body.
const MAX_DEPTH: usize = 64;

/// A frame's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeinKind {
    /// `__raw__`: bytes.
    Raw,
    /// `__jsn__`: extended JSON.
    Json,
    /// `__png__`: only acknowledged.
    Ping,
    /// `__die__`: the receiver closes.
    Die,
}

impl HeinKind {
    fn key(self) -> &'static [u8; 7] {
        match self {
            HeinKind::Raw => b"__raw__",
            HeinKind::Json => b"__jsn__",
            HeinKind::Ping => b"__png__",
            HeinKind::Die => b"__die__",
        }
    }

    fn from_key(key: &[u8]) -> Option<HeinKind> {
        [HeinKind::Raw, HeinKind::Json, HeinKind::Ping, HeinKind::Die]
            .into_iter()
            .find(|kind| kind.key() == key)
    }
}

/// One frame, transmitter to receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeinFrame {
    /// The kind.
    pub kind: HeinKind,
    /// The tag (`None` when empty).
    pub tag: Option<String>,
    /// The flag: `true` = "1" (a `__jsn__` body to decode).
    pub unpack: bool,
    /// The body, unescaped.
    pub body: Vec<u8>,
}

impl HeinFrame {
    /// A `__raw__` frame (flag "0"); the tag is made valid by [`tag_for_topic`]'s rules.
    pub fn raw(tag: Option<&str>, body: &[u8]) -> HeinFrame {
        HeinFrame {
            kind: HeinKind::Raw,
            tag: tag.map(tag_for_topic).filter(|t| !t.is_empty()),
            unpack: false,
            body: body.to_vec(),
        }
    }

    /// A `__jsn__` frame (flag "1") with an extended-JSON body.
    pub fn json(tag: Option<&str>, body: Vec<u8>) -> HeinFrame {
        HeinFrame {
            kind: HeinKind::Json,
            tag: tag.map(tag_for_topic).filter(|t| !t.is_empty()),
            unpack: true,
            body,
        }
    }

    /// A ping (only acknowledged).
    pub fn ping() -> HeinFrame {
        HeinFrame {
            kind: HeinKind::Ping,
            tag: None,
            unpack: true,
            body: Vec::new(),
        }
    }

    /// "Close your connection."
    pub fn die() -> HeinFrame {
        HeinFrame {
            kind: HeinKind::Die,
            tag: None,
            unpack: true,
            body: Vec::new(),
        }
    }

    /// Appends the frame's bytes (escaped tag and body, terminator) to `out`. A receiver unescapes the whole
    /// frame before it splits it, so a tag holding `AC 96` (never one [`tag_for_topic`] makes, but one read
    /// from a stream may) is escaped like the body.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.kind.key());
        if let Some(tag) = &self.tag {
            let latin1: Vec<u8> = tag
                .chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'_'))
                .collect();
            push_escaped(out, &latin1);
        }
        out.push(b':');
        out.push(if self.unpack { b'1' } else { b'0' });
        out.push(b':');
        push_escaped(out, &self.body);
        out.extend_from_slice(&TERMINATOR);
    }
}

/// `bytes` with every `AC 96` written as `AC 96 EE`.
fn push_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while let Some(at) = rest.windows(2).position(|w| w == MARK) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(&ESCAPED);
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
}

/// A tag hein accepts, from a topic: only `[A-Za-z0-9.-_ ]` kept, then at most 15 characters.
pub fn tag_for_topic(topic: &str) -> String {
    topic
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(MAX_TAG_LEN)
        .collect()
}

/// A receiver's name as it arrives: Latin-1 (every byte a character), at most 15 bytes.
pub fn name_from_bytes(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(MAX_NAME_LEN)
        .map(|b| char::from(*b))
        .collect()
}

/// Why bytes are not a hein frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeinError {
    /// More than the limit without a terminator (the bytes up to the next terminator are skipped).
    #[error("a frame of {len} bytes, more than {max}")]
    TooLarge {
        /// Bytes seen.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not one of the four keys.
    #[error("unknown frame kind {0:?}")]
    UnknownKind(String),
    /// Not the frame layout.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
    /// An extended-JSON body that does not parse.
    #[error("bad hein JSON: {0}")]
    BadJson(String),
}

/// Splits a receiver's byte stream into frames (sans-IO: push bytes, take frames).
#[derive(Debug)]
pub struct HeinDecoder {
    max_frame: usize,
    buf: Vec<u8>,
    /// Bytes at the start of `buf` known to hold no terminator start: each byte is searched once, not once
    /// per read (a frame trickling in by small reads would otherwise cost quadratic time).
    searched: usize,
    /// Skipping an oversized frame up to its terminator.
    skipping: bool,
}

impl HeinDecoder {
    /// A decoder taking frames of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> HeinDecoder {
        HeinDecoder {
            max_frame,
            buf: Vec::new(),
            searched: 0,
            skipping: false,
        }
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not a whole frame yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next frame (`Ok(None)`: read more). A bad frame is consumed and reported; the decoder goes on.
    pub fn next_frame(&mut self) -> Result<Option<HeinFrame>, HeinError> {
        let from = self.searched;
        let Some(end) = self.buf[from..]
            .windows(4)
            .position(|w| w == TERMINATOR)
            .map(|at| from + at)
        else {
            // A terminator may start in the last 3 bytes, once more bytes come.
            self.searched = self.buf.len().saturating_sub(TERMINATOR.len() - 1);
            // The last 3 bytes may be the start of the terminator: only more than a frame and those is too
            // much (a frame of the limit whose terminator is split across reads is still a frame).
            if self.buf.len() > self.max_frame.saturating_add(TERMINATOR.len() - 1) {
                let len = self.buf.len();
                // Keep the last 3 bytes: they may begin the terminator.
                self.buf.drain(..len - 3);
                self.searched = 0;
                let first = !self.skipping;
                self.skipping = true;
                if first {
                    return Err(HeinError::TooLarge {
                        len,
                        max: self.max_frame,
                    });
                }
            }
            return Ok(None);
        };
        let piece: Vec<u8> = self.buf.drain(..end + 4).take(end).collect();
        self.searched = 0;
        if std::mem::take(&mut self.skipping) {
            return self.next_frame();
        }
        if piece.len() > self.max_frame {
            return Err(HeinError::TooLarge {
                len: piece.len(),
                max: self.max_frame,
            });
        }
        parse_piece(&piece).map(Some)
    }
}

fn parse_piece(piece: &[u8]) -> Result<HeinFrame, HeinError> {
    let piece = unescape(piece);
    if piece.len() < 7 {
        return Err(HeinError::Malformed("shorter than a key"));
    }
    let (key, rest) = piece.split_at(7);
    let kind = HeinKind::from_key(key)
        .ok_or_else(|| HeinError::UnknownKind(String::from_utf8_lossy(key).into_owned()))?;
    let mut fields = rest.splitn(3, |b| *b == b':');
    let tag = fields.next().unwrap_or_default();
    let flag = fields.next().ok_or(HeinError::Malformed("no flag"))?;
    let body = fields.next().ok_or(HeinError::Malformed("no body"))?;
    let unpack = match flag {
        b"1" => true,
        b"0" => false,
        _ => return Err(HeinError::Malformed("a flag other than 0 or 1")),
    };
    Ok(HeinFrame {
        kind,
        tag: (!tag.is_empty()).then(|| name_latin1(tag)),
        unpack,
        body: body.to_vec(),
    })
}

fn name_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

fn unescape(piece: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(piece.len());
    let mut rest = piece;
    while let Some(at) = rest.windows(3).position(|w| w == ESCAPED) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(&MARK);
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    out
}

/// A `__jsn__` body (hein's extended JSON) as standard JSON: `i` integers (the digits as a string when they
/// do not fit 64 bits), `f` floats (`"inf"`, `"-inf"`, `"nan"` as strings), `b` booleans, `n` null, `u`/`s`/`y`/`Y`
/// strings, `t`/`D`/`T` ISO date and time strings; an unknown code is null, as hein reads it. Bodies are read
/// as UTF-8 (lossy), leniently: a real transmitter leaves backslashes and control characters unescaped.
pub fn json_body_to_value(body: &[u8]) -> Result<Value, HeinError> {
    let text = String::from_utf8_lossy(body);
    let mut parser = Parser {
        chars: text.chars().collect(),
        at: 0,
    };
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at != parser.chars.len() {
        return Err(HeinError::BadJson("trailing characters".into()));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self
            .peek()
            .is_some_and(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
        {
            self.at += 1;
        }
    }

    fn expect(&mut self, wanted: char) -> Result<(), HeinError> {
        self.skip_space();
        if self.peek() == Some(wanted) {
            self.at += 1;
            Ok(())
        } else {
            Err(HeinError::BadJson(format!(
                "expected {wanted:?} at {}",
                self.at
            )))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, HeinError> {
        if depth > MAX_DEPTH {
            return Err(HeinError::BadJson("nested too deep".into()));
        }
        self.skip_space();
        match self.peek() {
            Some('[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.peek() == Some(']') {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.skip_space();
                    match self.peek() {
                        Some(',') => self.at += 1,
                        Some(']') => {
                            self.at += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(HeinError::BadJson("unterminated list".into())),
                    }
                }
            }
            Some('{') => {
                self.at += 1;
                let mut map = Map::new();
                self.skip_space();
                if self.peek() == Some('}') {
                    self.at += 1;
                    return Ok(Value::Object(map));
                }
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    self.expect(':')?;
                    let value = self.value(depth + 1)?;
                    map.insert(key, value);
                    self.skip_space();
                    match self.peek() {
                        Some(',') => self.at += 1,
                        Some('}') => {
                            self.at += 1;
                            return Ok(Value::Object(map));
                        }
                        _ => return Err(HeinError::BadJson("unterminated object".into())),
                    }
                }
            }
            Some('"') => {
                let leaf = self.string()?;
                Ok(scalar(&leaf))
            }
            _ => Err(HeinError::BadJson(format!(
                "a bare value at {} (hein writes every scalar as a string)",
                self.at
            ))),
        }
    }

    /// A string, with JSON escapes honoured and anything else taken as is.
    fn string(&mut self) -> Result<String, HeinError> {
        if self.peek() != Some('"') {
            return Err(HeinError::BadJson(format!(
                "expected a string at {}",
                self.at
            )));
        }
        self.at += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(HeinError::BadJson("unterminated string".into()));
            };
            self.at += 1;
            match c {
                '"' => return Ok(out),
                '\\' => match self.peek() {
                    Some(e @ ('"' | '\\' | '/')) => {
                        out.push(e);
                        self.at += 1;
                    }
                    Some('n') => {
                        out.push('\n');
                        self.at += 1;
                    }
                    Some('t') => {
                        out.push('\t');
                        self.at += 1;
                    }
                    Some('r') => {
                        out.push('\r');
                        self.at += 1;
                    }
                    Some('b') => {
                        out.push('\u{8}');
                        self.at += 1;
                    }
                    Some('f') => {
                        out.push('\u{c}');
                        self.at += 1;
                    }
                    Some('u') if self.hex4(self.at + 1).is_some() => {
                        let unit = self.hex4(self.at + 1).unwrap_or_default();
                        out.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                        self.at += 5;
                    }
                    // Not an escape: hein did not escape this backslash.
                    _ => out.push('\\'),
                },
                c => out.push(c),
            }
        }
    }

    fn hex4(&self, from: usize) -> Option<u32> {
        let digits: String = self.chars.get(from..from + 4)?.iter().collect();
        u32::from_str_radix(&digits, 16).ok()
    }
}

/// One `"<code>:<text>"` leaf as standard JSON.
fn scalar(leaf: &str) -> Value {
    let Some((code, text)) = leaf.split_once(':') else {
        return Value::Null;
    };
    match code {
        "i" => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(text.to_owned())),
        "f" => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Number::from_f64(f).map_or(Value::Null, Value::Number),
            Ok(f) if f.is_nan() => Value::String("nan".into()),
            Ok(f) if f > 0.0 => Value::String("inf".into()),
            Ok(_) => Value::String("-inf".into()),
            Err(_) => Value::Null,
        },
        "b" => Value::Bool(text == "1"),
        "n" => Value::Null,
        "u" | "s" | "y" | "Y" => Value::String(text.to_owned()),
        "t" => datetime(text).map_or(Value::Null, Value::String),
        "D" => date(text).map_or(Value::Null, Value::String),
        "T" => time(text).map_or(Value::Null, Value::String),
        _ => Value::Null,
    }
}

fn numbers(parts: &[&str]) -> Option<Vec<u32>> {
    parts.iter().map(|p| p.trim().parse().ok()).collect()
}

fn clock(n: &[u32], zone: &str) -> String {
    let mut out = format!("{:02}:{:02}:{:02}", n[0], n[1], n[2]);
    if n[3] != 0 {
        out.push_str(&format!(".{:06}", n[3]));
    }
    if !zone.is_empty() {
        out.push(' ');
        out.push_str(zone);
    }
    out
}

/// `Y,M,D,h,m,s,us,TZ` as `YYYY-MM-DDTHH:MM:SS[.ffffff][ TZ]`.
fn datetime(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(',').collect();
    let (numbers_part, zone) = match parts.len() {
        7 => (&parts[..7], ""),
        8 => (&parts[..7], parts[7]),
        _ => return None,
    };
    let n = numbers(numbers_part)?;
    Some(format!(
        "{:04}-{:02}-{:02}T{}",
        n[0],
        n[1],
        n[2],
        clock(&n[3..], zone)
    ))
}

/// `Y,M,D` as `YYYY-MM-DD`.
fn date(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(',').collect();
    let n = numbers(&parts).filter(|n| n.len() == 3)?;
    Some(format!("{:04}-{:02}-{:02}", n[0], n[1], n[2]))
}

/// `h,m,s,us,TZ` as `HH:MM:SS[.ffffff][ TZ]`.
fn time(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.split(',').collect();
    let (numbers_part, zone) = match parts.len() {
        4 => (&parts[..4], ""),
        5 => (&parts[..4], parts[4]),
        _ => return None,
    };
    Some(clock(&numbers(numbers_part)?, zone))
}

/// Standard JSON as a real hein transmitter writes it (for test counterparts and tools): `i`/`f`/`b`/`n`/`u`
/// leaves, no spaces, keys between quotes as they are (hein does not escape them either).
pub fn value_to_json_body(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(value, &mut out);
    out.into_bytes()
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("\"n:\""),
        Value::Bool(b) => out.push_str(if *b { "\"b:1\"" } else { "\"b:0\"" }),
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or_default();
            let text = if f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                f.to_string()
            };
            out.push_str(&format!("\"f:{text}\""));
        }
        Value::Number(n) => out.push_str(&format!("\"i:{n}\"")),
        Value::String(s) => {
            out.push_str("\"u:");
            out.push_str(s);
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(key);
                out.push_str("\":");
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn encoded(frame: &HeinFrame) -> Vec<u8> {
        let mut out = Vec::new();
        frame.encode(&mut out);
        out
    }

    fn terminated(text: &[u8]) -> Vec<u8> {
        let mut out = text.to_vec();
        out.extend_from_slice(&TERMINATOR);
        out
    }

    #[test]
    fn the_observed_frames_encode_byte_for_byte() {
        assert_eq!(
            encoded(&HeinFrame::raw(Some("T1"), b"hello raw")),
            terminated(b"__raw__T1:0:hello raw")
        );
        assert_eq!(
            encoded(&HeinFrame::raw(None, b"A\xac\x96B")),
            terminated(b"__raw__:0:A\xac\x96\xeeB")
        );
        assert_eq!(encoded(&HeinFrame::ping()), terminated(b"__png__:1:"));
        assert_eq!(encoded(&HeinFrame::die()), terminated(b"__die__:1:"));
        assert_eq!(
            encoded(&HeinFrame::json(None, b"\"u:plain\"".to_vec())),
            terminated(b"__jsn__:1:\"u:plain\"")
        );
    }

    #[test]
    fn frames_decode_across_pushes_and_several_per_push() {
        let mut stream = Vec::new();
        let frames = [
            HeinFrame::raw(Some("T1"), b"hello raw"),
            HeinFrame::raw(None, b"A\xac\x96B\xac\x96"),
            HeinFrame::ping(),
            HeinFrame::json(Some("J"), value_to_json_body(&json!({"a": 1}))),
        ];
        for frame in &frames {
            frame.encode(&mut stream);
        }
        for split in [1, 3, 7, stream.len() - 2] {
            let mut decoder = HeinDecoder::new(1024);
            decoder.push(&stream[..split]);
            let mut got = Vec::new();
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
            decoder.push(&stream[split..]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
            assert_eq!(got, frames, "split at {split}");
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn bad_frames_are_named_and_the_stream_goes_on() {
        let mut decoder = HeinDecoder::new(64);
        decoder.push(&terminated(b"__xyz__:0:a"));
        decoder.push(&terminated(b"__raw__T:2:a"));
        decoder.push(&terminated(b"__raw__"));
        decoder.push(&terminated(b"__raw__:0:ok"));
        assert!(matches!(
            decoder.next_frame(),
            Err(HeinError::UnknownKind(_))
        ));
        assert!(matches!(decoder.next_frame(), Err(HeinError::Malformed(_))));
        assert!(matches!(decoder.next_frame(), Err(HeinError::Malformed(_))));
        assert_eq!(decoder.next_frame().unwrap().unwrap().body, b"ok");
    }

    #[test]
    fn an_oversized_frame_is_skipped_once_its_terminator_comes() {
        let mut decoder = HeinDecoder::new(16);
        decoder.push(&[b'x'; 40]);
        assert!(matches!(
            decoder.next_frame(),
            Err(HeinError::TooLarge { .. })
        ));
        decoder.push(&[b'x'; 40]);
        assert_eq!(decoder.next_frame(), Ok(None));
        assert!(decoder.buffered() < 16);
        decoder.push(&TERMINATOR);
        decoder.push(&terminated(b"__raw__:0:ok"));
        assert_eq!(decoder.next_frame().unwrap().unwrap().body, b"ok");
    }

    /// Found by the `hein_frames` fuzz target: a frame just under the limit was refused when its terminator
    /// arrived split across two reads.
    #[test]
    fn a_frame_at_the_limit_is_taken_whatever_the_reads() {
        let frame = HeinFrame::raw(None, &[b'x'; 10]);
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        let max = bytes.len() - TERMINATOR.len();
        for split in 0..=bytes.len() {
            let mut decoder = HeinDecoder::new(max);
            decoder.push(&bytes[..split]);
            let mut got = Vec::new();
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
            decoder.push(&bytes[split..]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                got.push(frame);
            }
            assert_eq!(got, std::slice::from_ref(&frame), "split at {split}");
        }
    }

    /// Found by the `hein_frames` fuzz target: a tag read from a stream may hold `AC 96` (escaped as
    /// `AC 96 EE` on the wire); written back unescaped, it read as something else, or not at all.
    #[test]
    fn a_tag_holding_the_escape_mark_is_written_escaped() {
        let mut decoder = HeinDecoder::new(1024);
        decoder.push(&terminated(b"__raw__a\xac\x96\xeeb\xac\x96\xee\xee:1:\xa4"));
        let frame = decoder.next_frame().unwrap().unwrap();
        assert_eq!(
            frame.tag.as_deref(),
            Some("a\u{ac}\u{96}b\u{ac}\u{96}\u{ee}")
        );
        let bytes = encoded(&frame);
        assert_eq!(
            bytes,
            terminated(b"__raw__a\xac\x96\xeeb\xac\x96\xee\xee:1:\xa4")
        );
        decoder.push(&bytes);
        assert_eq!(decoder.next_frame().unwrap().unwrap(), frame);
    }

    #[test]
    fn the_observed_json_body_decodes() {
        let body = "{\"a\":\"i:1\",\"b\":[\"f:1.5\",\"n:\",\"b:1\",\"u:h\u{e9}\",\"y:by\"]}";
        assert_eq!(
            json_body_to_value(body.as_bytes()).unwrap(),
            json!({"a": 1, "b": [1.5, null, true, "h\u{e9}", "by"]})
        );
        assert_eq!(json_body_to_value(b"\"i:42\"").unwrap(), json!(42));
        assert_eq!(
            json_body_to_value(b"\"i:123456789012345678901234567890\"").unwrap(),
            json!("123456789012345678901234567890")
        );
        assert_eq!(
            json_body_to_value(b"[\"f:inf\",\"f:1e-05\"]").unwrap(),
            json!(["inf", 1e-5])
        );
        assert_eq!(
            json_body_to_value(
                b"[\"t:2020,1,2,3,4,5,6,\",\"D:2020,1,2\",\"T:1,2,3,0,\",\"q:x\",\"nocode\"]"
            )
            .unwrap(),
            json!([
                "2020-01-02T03:04:05.000006",
                "2020-01-02",
                "01:02:03",
                null,
                null
            ])
        );
    }

    #[test]
    fn what_a_real_transmitter_leaves_unescaped_is_read_and_bad_json_is_an_error() {
        assert_eq!(
            json_body_to_value(b"\"u:a\\zb\tc\"").unwrap(),
            json!("a\\zb\tc")
        );
        for bad in [
            &b"42"[..],
            b"\"u:a\\\\\"b\"",
            b"[\"u:a\"",
            b"{\"k\" \"u:a\"}",
            b"\"u:a\" x",
            b"",
        ] {
            assert!(
                matches!(json_body_to_value(bad), Err(HeinError::BadJson(_))),
                "{bad:?}"
            );
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(json_body_to_value(deep.as_bytes()).is_err());
    }

    #[test]
    fn tags_and_names_follow_hein() {
        assert_eq!(tag_for_topic("sensors.kitchen/temp:x"), "sensors.kitchen");
        assert_eq!(tag_for_topic("a:b"), "ab");
        assert_eq!(name_from_bytes(b"h\xe9"), "h\u{e9}");
        assert_eq!(name_from_bytes(&[b'a'; 20]).len(), 15);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut decoder = HeinDecoder::new(256);
            decoder.push(&bytes);
            decoder.push(&TERMINATOR);
            for _ in 0..16 {
                match decoder.next_frame() {
                    Ok(None) => break,
                    Ok(Some(frame)) => { let _ = json_body_to_value(&frame.body); }
                    Err(_) => {}
                }
            }
            let _ = json_body_to_value(&bytes);
        }

        #[test]
        fn raw_frames_round_trip(body in proptest::collection::vec(any::<u8>(), 1..300), tag in "[a-z.]{0,20}") {
            let frame = HeinFrame::raw(Some(&tag), &body);
            let mut decoder = HeinDecoder::new(1024);
            decoder.push(&encoded(&frame));
            prop_assert_eq!(decoder.next_frame().unwrap().unwrap(), frame);
        }

        #[test]
        fn written_json_reads_back(text in "[a-z \\x{e9}]{0,20}", n in any::<i64>(), b: bool) {
            let value = json!({"text": text, "n": n, "list": [b, null, 2.5]});
            prop_assert_eq!(json_body_to_value(&value_to_json_body(&value)).unwrap(), value);
        }
    }
}
