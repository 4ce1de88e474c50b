//! Shared-secret authentication: the [`Key`] read from a key file, HMAC-SHA256 tags over datagrams (and, with
//! messaging, link handshakes), and the freshness window that refuses replayed datagrams.
//!
//! Without a key nothing is authenticated; with one, everything is authenticated but not encrypted.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Fewest secret bytes a key file may hold.
pub const MIN_KEY_LEN: usize = 32;

/// Default freshness window: a signed datagram whose timestamp is further than this from the receiver's clock
/// is refused as a replay (LAN clocks are assumed to agree within this).
pub const DEFAULT_REPLAY_WINDOW_MS: u64 = 30_000;

/// A shared secret.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The first line is neither hex nor base64.
    #[error("key file {0}: the first line must be hex or base64")]
    Encoding(String),
    /// Fewer than [`MIN_KEY_LEN`] bytes.
    #[error("key file {path}: {len} bytes is too short, at least {MIN_KEY_LEN} are needed (run `herald keygen`)")]
    TooShort {
        /// The file.
        path: String,
        /// Bytes found.
        len: usize,
    },
}

impl Key {
    /// Reads a key file: one line of hex or base64 holding at least [`MIN_KEY_LEN`] bytes.
    pub fn from_file(path: &Path) -> Result<Key, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown.clone(),
            source,
        })?;
        let line = text.lines().next().unwrap_or("").trim();
        let bytes = decode_hex(line)
            .or_else(|| BASE64.decode(line).ok())
            .ok_or_else(|| KeyError::Encoding(shown.clone()))?;
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort {
                path: shown,
                len: bytes.len(),
            });
        }
        Ok(Key(bytes))
    }

    /// Wraps raw secret bytes (tests, `keygen`).
    pub fn from_bytes(bytes: Vec<u8>) -> Key {
        Key(bytes)
    }

    /// A fresh random key, as `herald keygen` writes it (hex, one line).
    pub fn generate_hex() -> String {
        let bytes: [u8; 32] = rand::random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// HMAC-SHA256 of `bytes`.
    pub fn mac(&self, bytes: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(bytes);
        mac.finalize().into_bytes().into()
    }

    /// True when `tag` is the HMAC of `bytes` (compared in constant time).
    pub fn verify(&self, bytes: &[u8], tag: &[u8; 32]) -> bool {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(bytes);
        mac.verify_slice(tag).is_ok()
    }
}

/// True when a signed timestamp is within `window_ms` of the receiver's clock, either way.
pub fn is_fresh(timestamp_ms: u64, now_ms: u64, window_ms: u64) -> bool {
    timestamp_ms.abs_diff(now_ms) <= window_ms
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_accept_hex_and_base64_and_refuse_short_keys() {
        let dir = std::env::temp_dir().join(format!("herald-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hex = dir.join("hex");
        std::fs::write(&hex, format!("{}\n", Key::generate_hex())).unwrap();
        assert!(Key::from_file(&hex).is_ok());
        let b64 = dir.join("b64");
        std::fs::write(&b64, BASE64.encode([7u8; 40])).unwrap();
        assert_eq!(Key::from_file(&b64).unwrap().0, vec![7u8; 40]);
        let short = dir.join("short");
        std::fs::write(&short, "abcd").unwrap();
        assert!(matches!(
            Key::from_file(&short),
            Err(KeyError::TooShort { len: 2, .. })
        ));
        let junk = dir.join("junk");
        std::fs::write(&junk, "not a key!").unwrap();
        assert!(matches!(Key::from_file(&junk), Err(KeyError::Encoding(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn macs_verify_only_with_the_same_key_and_bytes() {
        let key = Key::from_bytes(vec![1; 32]);
        let tag = key.mac(b"beacon");
        assert!(key.verify(b"beacon", &tag));
        assert!(!key.verify(b"beacon!", &tag));
        assert!(!Key::from_bytes(vec![2; 32]).verify(b"beacon", &tag));
    }

    #[test]
    fn freshness_is_symmetric() {
        assert!(is_fresh(1_000, 1_500, 500));
        assert!(is_fresh(1_500, 1_000, 500));
        assert!(!is_fresh(1_000, 1_501, 500));
    }
}
