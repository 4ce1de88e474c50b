//! The IP log's wire types: history records ([`IpPeriod`], [`IpChange`]) and the datagrams on the DynIP port,
//! where Herald's own signed [`IpReport`]s and legacy DynIP hostname datagrams arrive side by side.
//!
//! [`classify_report_datagram`] tells the two apart: a Herald report starts with [`REPORT_MAGIC`], whose first
//! byte is NUL, which no hostname can contain. Storage and acknowledgement policy belong to the node.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

#[cfg(feature = "wire")]
use crate::envelope::{self, Datagram, Signer};
#[cfg(feature = "wire")]
use crate::error::{DecodeError, EncodeError};

/// Magic bytes that open a Herald IP report datagram (NUL first: never a hostname).
pub const REPORT_MAGIC: [u8; 4] = *b"\0HIP";
/// Largest datagram accepted on the DynIP port.
pub const MAX_REPORT_DATAGRAM_LEN: usize = 512;
/// Longest legacy hostname accepted (the old client sent the bare hostname).
pub const MAX_LEGACY_HOSTNAME_LEN: usize = 256;
/// Default DynIP UDP port.
pub const DEFAULT_DYNIP_PORT: u16 = 28630;

/// One address period of one host: the host had `ip` from `first_seen_ms` to `last_seen_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct IpPeriod {
    /// The reported host name.
    pub host: String,
    /// The address seen (the report's source address).
    pub ip: IpAddr,
    /// First report from this address in this period (unix ms).
    pub first_seen_ms: u64,
    /// Latest report from this address in this period (unix ms).
    pub last_seen_ms: u64,
    /// Reports received in this period.
    pub reports: u64,
}

/// Where an address change was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum IpChangeSource {
    /// A Herald IP report.
    Report,
    /// A legacy DynIP hostname datagram.
    LegacyReport,
    /// A discovery beacon from a new address.
    Discovery,
    /// A peer at another site moved, as its site's gateway told through NATS (the host is `name@site`).
    Nats,
}

/// A host's address changed (or a host appeared: `old_ip` is `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct IpChange {
    /// The host name.
    pub host: String,
    /// The previous address, if the host was known.
    pub old_ip: Option<IpAddr>,
    /// The new address.
    pub new_ip: IpAddr,
    /// When the change was seen (unix ms).
    pub at_ms: u64,
    /// How it was learned.
    pub source: IpChangeSource,
}

/// Every Herald message on the DynIP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum IpLogMessage {
    /// A host reporting itself; the server records the datagram's source address.
    Report(IpReport),
    /// The server stored the report with this nonce durably.
    Ack {
        /// The report's nonce.
        nonce: u64,
    },
    /// The server refused the report with this nonce.
    Refused {
        /// The report's nonce.
        nonce: u64,
        /// Why.
        reason: ReportRefusal,
    },
}

/// A Herald IP report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct IpReport {
    /// The reporting host's name.
    pub name: String,
    /// The reporter's clock (unix ms).
    pub timestamp_ms: u64,
    /// Random per report; echoed in the ack, and remembered by the server against replays.
    pub nonce: u64,
}

/// Why the server refused a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum ReportRefusal {
    /// Unsigned, badly signed or replayed while a key is configured.
    Auth,
    /// The host cap is reached and this host is new.
    HostCap,
    /// The name is empty or has control characters.
    BadName,
    /// The store failed (e.g. disk full); the reporter should retry later.
    Storage,
}

/// What arrived on the DynIP port.
#[cfg(feature = "wire")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportDatagram<'a> {
    /// A Herald message (signature not yet verified).
    Herald(Datagram<'a, IpLogMessage>),
    /// A legacy DynIP datagram: the payload is the hostname (trimmed of trailing CR/LF, checked).
    Legacy(String),
}

/// Why a legacy hostname datagram is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyHostnameError {
    /// Nothing left after trimming trailing CR/LF.
    #[error("empty hostname")]
    Empty,
    /// Longer than [`MAX_LEGACY_HOSTNAME_LEN`] bytes.
    #[error("hostname of {0} bytes is too long")]
    TooLong(usize),
    /// Not UTF-8.
    #[error("hostname is not UTF-8")]
    NotUtf8,
    /// Contains a control character (the old server stored these verbatim; Herald refuses them).
    #[error("hostname contains control characters")]
    ControlCharacter,
}

/// Why a datagram on the DynIP port was refused.
#[cfg(feature = "wire")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportDatagramError {
    /// A Herald message that did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A legacy datagram with an unacceptable hostname.
    #[error(transparent)]
    LegacyHostname(#[from] LegacyHostnameError),
}

/// Encodes a Herald message for the DynIP port, signed when `signer` is given.
#[cfg(feature = "wire")]
pub fn encode_report_datagram(
    message: &IpLogMessage,
    signer: Option<&Signer<'_>>,
) -> Result<Vec<u8>, EncodeError> {
    envelope::seal(REPORT_MAGIC, message, signer, MAX_REPORT_DATAGRAM_LEN)
}

/// Tells a Herald message from a legacy hostname datagram and decodes it. Never panics.
#[cfg(feature = "wire")]
pub fn classify_report_datagram(bytes: &[u8]) -> Result<ReportDatagram<'_>, ReportDatagramError> {
    if bytes.first() == Some(&REPORT_MAGIC[0]) {
        return Ok(ReportDatagram::Herald(envelope::open(
            REPORT_MAGIC,
            bytes,
            MAX_REPORT_DATAGRAM_LEN,
        )?));
    }
    Ok(ReportDatagram::Legacy(legacy_hostname(bytes)?))
}

/// The old DynIP client's datagram for `name`: its bytes, nothing else. Refused when the old server would
/// store something else than `name` (a trailing CR or LF, control characters, too long, empty).
pub fn encode_legacy_hostname(name: &str) -> Result<Vec<u8>, LegacyHostnameError> {
    match legacy_hostname(name.as_bytes())? {
        checked if checked == name => Ok(name.as_bytes().to_vec()),
        _ => Err(LegacyHostnameError::ControlCharacter),
    }
}

/// Checks a legacy DynIP payload and returns the hostname it names.
pub fn legacy_hostname(bytes: &[u8]) -> Result<String, LegacyHostnameError> {
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    let trimmed = &bytes[..end];
    if trimmed.is_empty() {
        return Err(LegacyHostnameError::Empty);
    }
    if trimmed.len() > MAX_LEGACY_HOSTNAME_LEN {
        return Err(LegacyHostnameError::TooLong(trimmed.len()));
    }
    let name = std::str::from_utf8(trimmed).map_err(|_| LegacyHostnameError::NotUtf8)?;
    if name.chars().any(char::is_control) {
        return Err(LegacyHostnameError::ControlCharacter);
    }
    Ok(name.to_owned())
}

// The report datagrams are the binary wire's.
#[cfg(all(test, feature = "wire", not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn herald_messages_round_trip(message: IpLogMessage) {
            let bytes = encode_report_datagram(&message, None).unwrap();
            match classify_report_datagram(&bytes).unwrap() {
                ReportDatagram::Herald(got) => prop_assert_eq!(got.message, message),
                other => prop_assert!(false, "classified as {other:?}"),
            }
        }

        #[test]
        fn records_round_trip_in_both_codecs(period: IpPeriod, change: IpChange) {
            prop_assert_eq!(&serde_json::from_str::<IpPeriod>(&serde_json::to_string(&period).unwrap()).unwrap(), &period);
            prop_assert_eq!(postcard::from_bytes::<IpPeriod>(&postcard::to_allocvec(&period).unwrap()).unwrap(), period);
            prop_assert_eq!(&serde_json::from_str::<IpChange>(&serde_json::to_string(&change).unwrap()).unwrap(), &change);
            prop_assert_eq!(postcard::from_bytes::<IpChange>(&postcard::to_allocvec(&change).unwrap()).unwrap(), change);
        }

        #[test]
        fn plain_hostnames_are_legacy(name in "[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}", suffix in "(\r|\n|\r\n)?") {
            let datagram = format!("{name}{suffix}");
            prop_assert_eq!(classify_report_datagram(datagram.as_bytes()).unwrap(), ReportDatagram::Legacy(name));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = classify_report_datagram(&bytes);
        }
    }

    #[test]
    fn legacy_hostnames_encode_as_their_bytes_or_not_at_all() {
        assert_eq!(encode_legacy_hostname("laptop-7").unwrap(), b"laptop-7");
        assert_eq!(
            encode_legacy_hostname("h\u{e9}").unwrap(),
            "h\u{e9}".as_bytes()
        );
        assert_eq!(
            encode_legacy_hostname("host\n"),
            Err(LegacyHostnameError::ControlCharacter)
        );
        assert_eq!(encode_legacy_hostname(""), Err(LegacyHostnameError::Empty));
    }

    #[test]
    fn bad_legacy_hostnames_are_named() {
        assert_eq!(legacy_hostname(b"\r\n"), Err(LegacyHostnameError::Empty));
        assert_eq!(
            legacy_hostname(&[b'a'; 257]),
            Err(LegacyHostnameError::TooLong(257))
        );
        assert_eq!(
            legacy_hostname(&[0xff, 0xfe]),
            Err(LegacyHostnameError::NotUtf8)
        );
        assert_eq!(
            legacy_hostname(b"bad\tname"),
            Err(LegacyHostnameError::ControlCharacter)
        );
        assert_eq!(legacy_hostname(b"host-1\n").as_deref(), Ok("host-1"));
    }

    #[test]
    fn a_nul_first_byte_is_never_a_hostname() {
        let err = classify_report_datagram(b"\0HI").unwrap_err();
        assert_eq!(err, ReportDatagramError::Decode(DecodeError::BadMagic));
        let err = classify_report_datagram(&[0u8; 600]).unwrap_err();
        assert!(matches!(
            err,
            ReportDatagramError::Decode(DecodeError::TooLarge { .. })
        ));
    }
}
