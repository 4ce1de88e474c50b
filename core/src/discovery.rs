//! Discovery datagrams on the multicast group: [`Beacon`]s (a node announcing itself, or leaving), and the
//! service [`LookupQuery`] / [`LookupReply`] pair that lets a process that is not a node find a service.
//! Where multicast is blocked, the same beacons go by unicast to seeds, and a seed answers a newcomer with a
//! [`PeerList`] (addresses only, at most [`MAX_PEER_ADDRS`]) so it can greet the others itself.
//!
//! Encoding is [`encode_datagram`] / [`decode_datagram`] in the envelope of [`crate::envelope`], at most
//! [`MAX_DATAGRAM_LEN`] bytes. What a node *does* with them (peer table, expiry, replies) is the node's job.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::envelope::{self, Datagram, Signer};
use crate::error::{DecodeError, EncodeError};
use crate::ids::{NodeId, PeerKind};

/// Largest discovery datagram, sent or accepted (fits one Ethernet frame with room to spare). Topics that do
/// not fit travel over the link instead (see [`Beacon::more_topics`]).
pub const MAX_DATAGRAM_LEN: usize = 1200;

/// Magic bytes that open every discovery datagram.
pub const DISCOVERY_MAGIC: [u8; 4] = *b"HRLD";

/// Default multicast group (IPv4, organisation-local scope).
pub const DEFAULT_GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 255, 72, 68);
/// Default UDP port of the multicast group, and of a node's unicast discovery socket (where seeds are reached).
pub const DEFAULT_PORT: u16 = 7268;

/// Most addresses one [`PeerList`] carries (about 9 bytes each: it stays well inside [`MAX_DATAGRAM_LEN`],
/// signed or not); a seed that knows more hands out a different window of them each time.
pub const MAX_PEER_ADDRS: usize = 100;

/// Most TXT bytes one beacon carries for a peer found by DNS-SD, each record counted as its key and value
/// plus 2 (see [`txt_bytes`]): with the rest of a proxied peer's beacon it stays well inside
/// [`MAX_DATAGRAM_LEN`], signed or not. Senders keep what fits with [`cap_txt`]; a beacon over it is malformed.
pub const MAX_TXT_BYTES: usize = 400;

/// The TXT bytes `txt` takes against [`MAX_TXT_BYTES`]: per record its key, its value and 2.
pub fn txt_bytes(txt: &BTreeMap<String, String>) -> usize {
    txt.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
}

/// The records of `txt` that fit in [`MAX_TXT_BYTES`], taken in key order (a record that does not fit is
/// skipped, a later smaller one may still fit), and how many were left out.
pub fn cap_txt(txt: &BTreeMap<String, String>) -> (BTreeMap<String, String>, usize) {
    let mut kept = BTreeMap::new();
    let mut used = 0;
    let mut left_out = 0;
    for (key, value) in txt {
        let len = key.len() + value.len() + 2;
        if used + len <= MAX_TXT_BYTES {
            used += len;
            kept.insert(key.clone(), value.clone());
        } else {
            left_out += 1;
        }
    }
    (kept, left_out)
}

/// A node's announcement of itself, sent on start, every heartbeat, and (with `leaving`) on shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Beacon {
    /// Who sends it.
    pub node_id: NodeId,
    /// Unique name on the LAN.
    pub name: String,
    /// What sort of program this peer is.
    pub kind: PeerKind,
    /// Unix ms when this run of the node started; with `seq`, tells a restart from a reordered beacon.
    pub incarnation: u64,
    /// Increases by one per beacon within an incarnation.
    pub seq: u64,
    /// TCP port of the node's link listener at the datagram's source address; 0 when it takes no links.
    pub tcp_port: u16,
    /// Advertised services: name to TCP port, at the node's address.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::port_services()")
    )]
    pub services: BTreeMap<String, u16>,
    /// Topics the node subscribes to (exact names or trailing wildcards like `sensors.*`).
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::few_strings()")
    )]
    pub topics: Vec<String>,
    /// True when `topics` was cut to fit the datagram; the full list is sent over the link.
    pub more_topics: bool,
    /// The sender's heartbeat interval, so receivers can expire it on its own clock.
    pub heartbeat_ms: u32,
    /// True on the last beacon of a node shutting down gracefully.
    pub leaving: bool,
    /// For a legacy peer proxied by a Herald gateway: the gateway's node id.
    pub via: Option<NodeId>,
    /// The peer's own address when it is not the datagram's source (proxied peers).
    pub addr: Option<IpAddr>,
    /// For a peer at another site (proxied by its site's NATS gateway): the site's name. `None` on its own LAN.
    pub site: Option<String>,
    /// TXT records of a peer found by DNS-SD (kind `mdns`), at most [`MAX_TXT_BYTES`]; empty for others.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::txt()")
    )]
    pub txt: BTreeMap<String, String>,
}

impl Beacon {
    /// A first beacon from `node_id` named `name`: kind `herald`, incarnation 0, seq 1, no link port, no
    /// services or topics, a 1 s heartbeat, not leaving, not proxied. Fill in the rest with struct update syntax.
    pub fn new(node_id: NodeId, name: impl Into<String>) -> Beacon {
        Beacon {
            node_id,
            name: name.into(),
            kind: PeerKind::Herald,
            incarnation: 0,
            seq: 1,
            tcp_port: 0,
            services: BTreeMap::new(),
            topics: Vec::new(),
            more_topics: false,
            heartbeat_ms: 1000,
            leaving: false,
            via: None,
            addr: None,
            site: None,
            txt: BTreeMap::new(),
        }
    }
}

/// "Who provides SERVICE?", sent to the group by anyone; providers answer by unicast with a [`LookupReply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct LookupQuery {
    /// Chosen by the asker to match replies.
    pub query_id: u64,
    /// The service name.
    pub service: String,
}

/// A provider's answer to a [`LookupQuery`], sent by unicast to the query's source address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct LookupReply {
    /// The query's id.
    pub query_id: u64,
    /// The service asked for.
    pub service: String,
    /// Providers the replier knows of (itself, and proxied legacy peers).
    pub providers: Vec<ServiceProvider>,
}

/// One provider of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct ServiceProvider {
    /// The providing node.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Where to connect.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::socket_addr()")
    )]
    pub addr: SocketAddr,
    /// The site it is at, when it is a peer at another site answered for by its NATS gateway.
    pub site: Option<String>,
}

/// A seed's answer to a newcomer's unicast beacon: where other nodes' discovery sockets are, addresses and
/// ports only. The newcomer greets each with its own beacon; a peer joins only when its own beacon arrives, so
/// nobody can inject a peer that cannot be reached. At most [`MAX_PEER_ADDRS`] addresses (more is malformed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct PeerList {
    /// The peers' discovery sockets.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "proptest::collection::vec(crate::arbitrary::socket_addr(), 0..8)")
    )]
    pub addrs: Vec<SocketAddr>,
}

/// Every message on the discovery group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum DiscoveryMessage {
    /// A node announcing itself or leaving.
    Beacon(Beacon),
    /// A service lookup.
    Lookup(LookupQuery),
    /// An answer to a lookup.
    LookupReply(LookupReply),
    /// A seed's list of peers for a newcomer (by unicast only; wire version 3).
    PeerList(PeerList),
}

/// Encodes a discovery datagram, signed when `signer` is given. Fails with [`EncodeError::TooLarge`] over
/// [`MAX_DATAGRAM_LEN`] or for a beacon's TXT over [`MAX_TXT_BYTES`], and for a [`PeerList`] of more than
/// [`MAX_PEER_ADDRS`] addresses.
pub fn encode_datagram(
    message: &DiscoveryMessage,
    signer: Option<&Signer<'_>>,
) -> Result<Vec<u8>, EncodeError> {
    if let DiscoveryMessage::PeerList(list) = message {
        if list.addrs.len() > MAX_PEER_ADDRS {
            return Err(EncodeError::TooMany {
                what: "peer addresses",
                count: list.addrs.len(),
                max: MAX_PEER_ADDRS,
            });
        }
    }
    if let DiscoveryMessage::Beacon(beacon) = message {
        let len = txt_bytes(&beacon.txt);
        if len > MAX_TXT_BYTES {
            return Err(EncodeError::TooLarge {
                len,
                max: MAX_TXT_BYTES,
            });
        }
    }
    envelope::seal(DISCOVERY_MAGIC, message, signer, MAX_DATAGRAM_LEN)
}

/// Decodes a discovery datagram received from the network. Never panics; the signature, if any, is returned
/// for the caller to verify. A [`PeerList`] of more than [`MAX_PEER_ADDRS`] addresses, and a beacon with more
/// than [`MAX_TXT_BYTES`] of TXT, are malformed.
pub fn decode_datagram(bytes: &[u8]) -> Result<Datagram<'_, DiscoveryMessage>, DecodeError> {
    let datagram = envelope::open(DISCOVERY_MAGIC, bytes, MAX_DATAGRAM_LEN)?;
    if let DiscoveryMessage::PeerList(list) = &datagram.message {
        if list.addrs.len() > MAX_PEER_ADDRS {
            return Err(DecodeError::Malformed(format!(
                "peer list of {} addresses exceeds the limit of {MAX_PEER_ADDRS}",
                list.addrs.len()
            )));
        }
    }
    if let DiscoveryMessage::Beacon(beacon) = &datagram.message {
        let len = txt_bytes(&beacon.txt);
        if len > MAX_TXT_BYTES {
            return Err(DecodeError::Malformed(format!(
                "beacon with {len} TXT bytes exceeds the limit of {MAX_TXT_BYTES}"
            )));
        }
    }
    Ok(datagram)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::envelope::{HEADER_LEN, MAC_LEN};
    use proptest::prelude::*;

    fn fake_mac(bytes: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = [0u8; MAC_LEN];
        for (i, b) in bytes.iter().enumerate() {
            mac[i % MAC_LEN] ^= b.wrapping_add(i as u8);
        }
        mac
    }

    fn small_beacon() -> DiscoveryMessage {
        DiscoveryMessage::Beacon(Beacon {
            node_id: NodeId([7; 16]),
            name: "alpha".into(),
            kind: PeerKind::Herald,
            incarnation: 1_700_000_000_000,
            seq: 3,
            tcp_port: 40000,
            services: [("web".to_owned(), 8080)].into(),
            topics: vec!["sensors.*".into()],
            more_topics: false,
            heartbeat_ms: 1000,
            leaving: false,
            via: None,
            addr: None,
            site: None,
            txt: BTreeMap::new(),
        })
    }

    proptest! {
        #[test]
        fn round_trips_plain_and_signed(message: DiscoveryMessage, ts: u64) {
            match encode_datagram(&message, None) {
                Ok(bytes) => {
                    let got = decode_datagram(&bytes).unwrap();
                    prop_assert_eq!(got.message, message.clone());
                    prop_assert!(got.auth.is_none());
                }
                Err(EncodeError::TooLarge { len, max }) => prop_assert!(len > max),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
            let signer = Signer { timestamp_ms: ts, mac: &fake_mac };
            if let Ok(bytes) = encode_datagram(&message, Some(&signer)) {
                let got = decode_datagram(&bytes).unwrap();
                prop_assert_eq!(got.message, message);
                let auth = got.auth.unwrap();
                prop_assert_eq!(auth.timestamp_ms, ts);
                prop_assert_eq!(auth.mac, fake_mac(auth.signed_bytes));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let _ = decode_datagram(&bytes);
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_header_never_panic(body in proptest::collection::vec(any::<u8>(), 0..1100)) {
            let mut bytes = DISCOVERY_MAGIC.to_vec();
            bytes.extend_from_slice(&[crate::PROTOCOL_VERSION, 0]);
            bytes.extend_from_slice(&body);
            let _ = decode_datagram(&bytes);
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encode_datagram(&small_beacon(), None).unwrap();
        for len in 0..bytes.len() {
            let err = decode_datagram(&bytes[..len]).unwrap_err();
            match len {
                0..=3 => assert_eq!(err, DecodeError::BadMagic),
                4..=5 => assert_eq!(
                    err,
                    DecodeError::Truncated {
                        needed: HEADER_LEN,
                        got: len
                    }
                ),
                _ => assert!(
                    matches!(err, DecodeError::Malformed(_)),
                    "len {len}: {err:?}"
                ),
            }
        }
    }

    #[test]
    fn foreign_version_and_flags_are_named() {
        let mut bytes = encode_datagram(&small_beacon(), None).unwrap();
        bytes[4] = 9;
        assert_eq!(
            decode_datagram(&bytes).unwrap_err(),
            DecodeError::BadVersion(9)
        );
        bytes[4] = crate::PROTOCOL_VERSION;
        bytes[5] = 0x80;
        assert!(matches!(
            decode_datagram(&bytes).unwrap_err(),
            DecodeError::Malformed(_)
        ));
        assert_eq!(
            decode_datagram(b"M-SEARCH * HTTP/1.1").unwrap_err(),
            DecodeError::BadMagic
        );
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let mut bytes = encode_datagram(&small_beacon(), None).unwrap();
        bytes.push(0);
        assert!(matches!(
            decode_datagram(&bytes).unwrap_err(),
            DecodeError::Malformed(_)
        ));
    }

    #[test]
    fn oversized_is_refused_both_ways() {
        let big = vec![0u8; MAX_DATAGRAM_LEN + 1];
        assert_eq!(
            decode_datagram(&big).unwrap_err(),
            DecodeError::TooLarge {
                len: MAX_DATAGRAM_LEN + 1,
                max: MAX_DATAGRAM_LEN
            }
        );
        let DiscoveryMessage::Beacon(mut beacon) = small_beacon() else {
            unreachable!()
        };
        beacon.topics = (0..200).map(|i| format!("topic.number.{i}")).collect();
        let err = encode_datagram(&DiscoveryMessage::Beacon(beacon), None).unwrap_err();
        assert!(matches!(
            err,
            EncodeError::TooLarge {
                max: MAX_DATAGRAM_LEN,
                ..
            }
        ));
    }

    fn full_peer_list(n: usize) -> DiscoveryMessage {
        let addrs = (0..n)
            .map(|i| {
                let ip = IpAddr::from([203, 0, 113, (i % 250) as u8]);
                SocketAddr::new(ip, 40000 + i as u16)
            })
            .collect();
        DiscoveryMessage::PeerList(PeerList { addrs })
    }

    #[test]
    fn a_full_peer_list_fits_signed_and_one_more_is_refused_both_ways() {
        let signer = Signer {
            timestamp_ms: 1,
            mac: &fake_mac,
        };
        let full = full_peer_list(MAX_PEER_ADDRS);
        let bytes = encode_datagram(&full, Some(&signer)).unwrap();
        assert!(bytes.len() < MAX_DATAGRAM_LEN, "{} bytes", bytes.len());
        assert_eq!(decode_datagram(&bytes).unwrap().message, full);

        let over = full_peer_list(MAX_PEER_ADDRS + 1);
        assert_eq!(
            encode_datagram(&over, None).unwrap_err(),
            EncodeError::TooMany {
                what: "peer addresses",
                count: MAX_PEER_ADDRS + 1,
                max: MAX_PEER_ADDRS
            }
        );
        // A sender that ignores the bound: the receiver refuses the list by name, without panicking.
        let bytes = envelope::seal(DISCOVERY_MAGIC, &over, None, MAX_DATAGRAM_LEN).unwrap();
        let err = decode_datagram(&bytes).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Malformed(why) if why.contains("peer list")),
            "{err:?}"
        );
    }

    #[test]
    fn a_peer_list_with_a_huge_declared_length_is_malformed() {
        let mut bytes = DISCOVERY_MAGIC.to_vec();
        // Variant 3 (PeerList), then a varint length of about 2^28 with no elements behind it.
        bytes.extend_from_slice(&[crate::PROTOCOL_VERSION, 0, 3, 0xff, 0xff, 0xff, 0x7f]);
        assert!(matches!(
            decode_datagram(&bytes).unwrap_err(),
            DecodeError::Malformed(_)
        ));
    }

    #[test]
    fn a_peer_list_has_this_exact_encoding() {
        // Also the fuzz seed `fuzz/seeds/decode_datagram/peer_list`.
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/seeds/decode_datagram/peer_list"
        ))
        .unwrap();
        let list = DiscoveryMessage::PeerList(PeerList {
            addrs: vec![
                "198.51.100.11:7268".parse().unwrap(),
                "203.0.113.7:8080".parse().unwrap(),
            ],
        });
        assert_eq!(encode_datagram(&list, None).unwrap(), bytes);
        assert_eq!(decode_datagram(&bytes).unwrap().message, list);
    }

    #[test]
    fn txt_is_capped_in_key_order_and_the_rest_counted() {
        let txt: BTreeMap<String, String> = [
            ("a".to_owned(), "x".repeat(200)),
            ("b".to_owned(), "y".repeat(300)),
            ("c".to_owned(), "z".repeat(100)),
        ]
        .into();
        let (kept, left_out) = cap_txt(&txt);
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(left_out, 1);
        assert!(txt_bytes(&kept) <= MAX_TXT_BYTES);
        let small: BTreeMap<String, String> = [("rp".to_owned(), "printers/x".to_owned())].into();
        assert_eq!(cap_txt(&small), (small.clone(), 0));
        assert_eq!(txt_bytes(&small), 14);
    }

    #[test]
    fn a_proxied_beacon_with_full_txt_fits_signed_and_more_txt_is_refused_both_ways() {
        let DiscoveryMessage::Beacon(mut beacon) = small_beacon() else {
            unreachable!()
        };
        beacon.name = "n".repeat(63);
        beacon.kind = PeerKind::Mdns;
        beacon.via = Some(NodeId([8; 16]));
        beacon.addr = Some("2001:db8::1".parse().unwrap());
        beacon.services = (0..8).map(|i| (format!("service-{i:07}"), 631)).collect();
        // One record of exactly the cap.
        beacon.txt = [("k".to_owned(), "v".repeat(MAX_TXT_BYTES - 3))].into();
        let signer = Signer {
            timestamp_ms: 1,
            mac: &fake_mac,
        };
        let message = DiscoveryMessage::Beacon(beacon.clone());
        let bytes = encode_datagram(&message, Some(&signer)).unwrap();
        assert!(bytes.len() < MAX_DATAGRAM_LEN, "{} bytes", bytes.len());
        assert_eq!(decode_datagram(&bytes).unwrap().message, message);

        beacon.txt.insert("l".into(), String::new());
        let over = DiscoveryMessage::Beacon(beacon);
        assert!(matches!(
            encode_datagram(&over, None).unwrap_err(),
            EncodeError::TooLarge {
                max: MAX_TXT_BYTES,
                ..
            }
        ));
        let bytes = envelope::seal(DISCOVERY_MAGIC, &over, None, MAX_DATAGRAM_LEN).unwrap();
        let err = decode_datagram(&bytes).unwrap_err();
        assert!(
            matches!(&err, DecodeError::Malformed(why) if why.contains("TXT")),
            "{err:?}"
        );
    }

    #[test]
    fn a_typical_beacon_is_small() {
        let bytes = encode_datagram(&small_beacon(), None).unwrap();
        assert!(bytes.len() < 80, "{} bytes", bytes.len());
    }
}
