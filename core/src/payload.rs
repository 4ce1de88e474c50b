//! [`Payload`]: the bytes a user sends (messages, questions, answers), shown as text in JSON when they are text.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Opaque user bytes.
///
/// Binary codecs carry them as a length-prefixed byte string. JSON carries `{"text": "..."}` when the bytes are
/// valid UTF-8 and `{"base64": "..."}` otherwise, so a browser shows text as text and nothing is lost.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Payload(pub Vec<u8>);

impl Payload {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, when they are valid UTF-8.
    pub fn as_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_text() {
            Some(text) => write!(f, "Payload({text:?})"),
            None => write!(f, "Payload({} bytes)", self.0.len()),
        }
    }
}

impl From<&str> for Payload {
    fn from(text: &str) -> Self {
        Payload(text.as_bytes().to_vec())
    }
}

impl From<String> for Payload {
    fn from(text: String) -> Self {
        Payload(text.into_bytes())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(bytes: Vec<u8>) -> Self {
        Payload(bytes)
    }
}

impl From<&[u8]> for Payload {
    fn from(bytes: &[u8]) -> Self {
        Payload(bytes.to_vec())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return serializer.serialize_bytes(&self.0);
        }
        let mut map = serializer.serialize_map(Some(1))?;
        match self.as_text() {
            Some(text) => map.serialize_entry("text", text)?,
            None => map.serialize_entry("base64", &BASE64.encode(&self.0))?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_map(JsonPayloadVisitor)
        } else {
            deserializer.deserialize_byte_buf(BytesVisitor)
        }
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
        Ok(Payload(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
        Ok(Payload(v))
    }
}

struct JsonPayloadVisitor;

impl<'de> Visitor<'de> for JsonPayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(r#"{"text": "..."} or {"base64": "..."}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(r#"payload needs "text" or "base64""#));
        };
        let payload = match key.as_str() {
            "text" => Payload(map.next_value::<String>()?.into_bytes()),
            "base64" => {
                let encoded = map.next_value::<String>()?;
                Payload(
                    BASE64
                        .decode(encoded.as_bytes())
                        .map_err(de::Error::custom)?,
                )
            }
            other => return Err(de::Error::unknown_field(other, &["text", "base64"])),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "unexpected payload field {extra:?}"
            )));
        }
        Ok(payload)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips_in_both_codecs(payload: Payload) {
            let json = serde_json::to_string(&payload).unwrap();
            prop_assert_eq!(&serde_json::from_str::<Payload>(&json).unwrap(), &payload);
            let bin = postcard::to_allocvec(&payload).unwrap();
            prop_assert_eq!(postcard::from_bytes::<Payload>(&bin).unwrap(), payload);
        }
    }

    #[test]
    fn json_shows_text_as_text_and_bytes_as_base64() {
        assert_eq!(
            serde_json::to_string(&Payload::from("héllo")).unwrap(),
            r#"{"text":"héllo"}"#
        );
        assert_eq!(
            serde_json::to_string(&Payload(vec![0xff, 0x00])).unwrap(),
            r#"{"base64":"/wA="}"#
        );
    }

    #[test]
    fn json_rejects_bad_shapes() {
        for bad in [
            r#"{}"#,
            r#"{"hex":"00"}"#,
            r#"{"base64":"!!"}"#,
            r#"{"text":"a","base64":"AA=="}"#,
            r#""a""#,
        ] {
            assert!(
                serde_json::from_str::<Payload>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }
}
