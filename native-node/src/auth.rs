//! Shared-secret authentication: the [`Key`] read from a key file (refused when other users may read it),
//! HMAC-SHA256 tags over datagrams, the freshness window that refuses replayed datagrams, and the pre-shared
//! key that keyed links mix into their Noise handshake ([`Key::link_psk`]; the links themselves are `link`'s).
//!
//! Without a key nothing is authenticated; with one, datagrams are authenticated (signed, not encrypted) and
//! links are authenticated and encrypted.

use std::io::Read;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HKDF's `info` for the links' Noise PSK: a key derived for nothing else.
const LINK_PSK_INFO: &[u8] = b"herald link noise psk v1";

/// Permission bits a key file may have beside its owner's: read by its group (0640, so a service user in the
/// group can read a root-owned key). Anything else (other users, a group that may write) is refused.
pub const KEY_FILE_GROUP_BITS_ALLOWED: u32 = 0o040;

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
    /// Other users may read (or anyone but the owner may write) the file: it is no secret then.
    #[error("key file {path} is accessible by others (mode {mode:04o}); allow its owner only: `chmod 600 {path}` (or 640 for a service's group)")]
    Permissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
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
    /// Reads a key file: one line of hex or base64 holding at least [`MIN_KEY_LEN`] bytes, readable by its
    /// owner and at most its group (see [`check_permissions`]).
    pub fn from_file(path: &Path) -> Result<Key, KeyError> {
        let shown = path.display().to_string();
        let read_error = |source| KeyError::Read {
            path: shown.clone(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        // The permissions of the file opened, not of whatever the path names a moment later.
        let metadata = file.metadata().map_err(read_error)?;
        check_permissions(&metadata, &shown)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(read_error)?;
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

    /// The 32-byte pre-shared key of keyed links' Noise handshakes: HKDF-SHA256 of the key file's bytes with a
    /// Herald-specific label, so the PSK is never the key that signs datagrams.
    pub fn link_psk(&self) -> [u8; 32] {
        let mut psk = [0; 32];
        Hkdf::<Sha256>::new(None, &self.0)
            .expand(LINK_PSK_INFO, &mut psk)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        psk
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

/// Refuses a key file that other users may read, or that anyone but its owner may write (as ssh does with
/// private keys); group-readable (0640) is allowed. Does nothing where there are no Unix permissions.
pub fn check_permissions(metadata: &std::fs::Metadata, path: &str) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 & !KEY_FILE_GROUP_BITS_ALLOWED != 0 {
            return Err(KeyError::Permissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (metadata, path);
    Ok(())
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

    /// Writes `text` to `path` with permissions `mode`.
    fn write_key(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
    }

    #[test]
    fn key_files_accept_hex_and_base64_and_refuse_short_keys() {
        let dir = std::env::temp_dir().join(format!("herald-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hex = dir.join("hex");
        write_key(&hex, &format!("{}\n", Key::generate_hex()), 0o600);
        assert!(Key::from_file(&hex).is_ok());
        let b64 = dir.join("b64");
        write_key(&b64, &BASE64.encode([7u8; 40]), 0o600);
        assert_eq!(Key::from_file(&b64).unwrap().0, vec![7u8; 40]);
        let short = dir.join("short");
        write_key(&short, "abcd", 0o600);
        assert!(matches!(
            Key::from_file(&short),
            Err(KeyError::TooShort { len: 2, .. })
        ));
        let junk = dir.join("junk");
        write_key(&junk, "not a key!", 0o600);
        assert!(matches!(Key::from_file(&junk), Err(KeyError::Encoding(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn key_files_others_may_read_are_refused_and_group_readable_ones_accepted() {
        let dir = std::env::temp_dir().join(format!("herald-key-modes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        let line = format!("{}\n", Key::generate_hex());
        for (mode, accepted) in [
            (0o600, true),
            (0o400, true),
            (0o640, true),
            (0o644, false),
            (0o604, false),
            (0o660, false),
            (0o602, false),
            (0o666, false),
        ] {
            write_key(&path, &line, mode);
            let result = Key::from_file(&path);
            assert_eq!(result.is_ok(), accepted, "mode {mode:o}: {result:?}");
            if !accepted {
                let err = result.unwrap_err();
                assert!(matches!(err, KeyError::Permissions { mode: m, .. } if m == mode));
                assert!(err.to_string().contains("chmod 600"), "{err}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_link_psk_is_derived_not_the_key_itself() {
        let key = Key::from_bytes(vec![1; 32]);
        assert_eq!(key.link_psk(), Key::from_bytes(vec![1; 32]).link_psk());
        assert_ne!(key.link_psk(), [1; 32]);
        assert_ne!(key.link_psk(), Key::from_bytes(vec![2; 32]).link_psk());
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
