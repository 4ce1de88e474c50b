//! Fixed sample vectors for every wire type, round-tripped natively and in headless Chromium (wasm32): the
//! browser must encode and decode exactly as the node does. Golden bytes pin the binary layout, so an
//! accidental wire change fails here rather than between two hosts.
#![cfg_attr(target_arch = "wasm32", allow(unused))]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use herald_core::bridge::*;
use herald_core::discovery::{
    self, Beacon, DiscoveryMessage, LookupQuery, LookupReply, ServiceProvider,
};
use herald_core::envelope::Signer;
use herald_core::frame::{
    self, Answer, AnswerBody, ErrorCode, Frame, Hello, Publish, Question, RefuseReason, Relayed,
};
use herald_core::iplog::{
    self, IpChange, IpChangeSource, IpLogMessage, IpPeriod, IpReport, ReportDatagram, ReportRefusal,
};
use herald_core::{AskOutcome, DecodeError, NoAnswer, NodeId, Payload, PeerKind};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const ALPHA: NodeId = NodeId([0xa1; 16]);
const BRAVO: NodeId = NodeId([0xb2; 16]);

fn peer() -> PeerInfo {
    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 11));
    PeerInfo {
        node_id: ALPHA,
        name: "alpha".into(),
        kind: PeerKind::Herald,
        addr: ip,
        tcp: Some(SocketAddr::new(ip, 40_001)),
        services: [("web".to_owned(), SocketAddr::new(ip, 8080))].into(),
        topics: vec!["sensors.*".into()],
        via: None,
        site: None,
        txt: BTreeMap::new(),
        first_seen_ms: 1_700_000_000_000,
        last_seen_ms: 1_700_000_005_000,
        state: PeerState::Live,
    }
}

fn beacon() -> Beacon {
    Beacon {
        node_id: ALPHA,
        name: "alpha".into(),
        kind: PeerKind::Herald,
        incarnation: 1_700_000_000_000,
        seq: 42,
        tcp_port: 40_001,
        services: [("web".to_owned(), 8080)].into(),
        topics: vec!["sensors.*".into(), "chat".into()],
        more_topics: false,
        heartbeat_ms: 1000,
        leaving: false,
        via: Some(BRAVO),
        addr: Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        site: Some("b".into()),
        txt: [("rp".to_owned(), "printers/x".to_owned())].into(),
    }
}

fn discovery_samples() -> Vec<DiscoveryMessage> {
    vec![
        DiscoveryMessage::Beacon(beacon()),
        DiscoveryMessage::Beacon(Beacon {
            leaving: true,
            via: None,
            addr: None,
            site: None,
            ..beacon()
        }),
        DiscoveryMessage::Lookup(LookupQuery {
            query_id: 7,
            service: "web".into(),
        }),
        DiscoveryMessage::LookupReply(LookupReply {
            query_id: 7,
            service: "web".into(),
            providers: vec![ServiceProvider {
                node_id: ALPHA,
                name: "alpha".into(),
                addr: "198.51.100.11:8080".parse().unwrap(),
                site: Some("b".into()),
            }],
        }),
    ]
}

fn frame_samples() -> Vec<Frame> {
    vec![
        Frame::Hello(Hello {
            node_id: ALPHA,
            name: "alpha".into(),
            kind: PeerKind::Cli,
            software: "herald 0.1.0".into(),
        }),
        Frame::Subscribe {
            topics: vec!["a".into(), "b.*".into()],
        },
        Frame::Unsubscribe {
            topics: vec!["a".into()],
        },
        Frame::Publish(Publish {
            topic: "sensors.kitchen".into(),
            seq: 1,
            payload: Payload(vec![0, 1, 2, 255]),
        }),
        Frame::Missed {
            topic: "sensors.kitchen".into(),
            count: 12,
        },
        Frame::Direct {
            payload: "hello".into(),
        },
        Frame::Question(Question {
            id: 5,
            timeout_ms: 2000,
            payload: "time?".into(),
        }),
        Frame::Answer(Answer {
            id: 5,
            body: AnswerBody::Answered("noon".into()),
        }),
        Frame::Answer(Answer {
            id: 6,
            body: AnswerBody::Failed("handler panicked".into()),
        }),
        Frame::Ping { nonce: u64::MAX },
        Frame::Pong { nonce: 0 },
        Frame::Refused {
            reason: RefuseReason::Version { supported: 1 },
        },
        Frame::Refused {
            reason: RefuseReason::SubscriberLimit {
                topic: "t".into(),
                limit: 5,
            },
        },
        Frame::Refused {
            reason: RefuseReason::Auth,
        },
        Frame::Error {
            code: ErrorCode::TooLarge,
        },
        Frame::Bye,
        Frame::Relay {
            peer: ALPHA,
            frame: Relayed::Question(Question {
                id: 7,
                timeout_ms: 2000,
                payload: "q1".into(),
            }),
        },
        Frame::Relay {
            peer: ALPHA,
            frame: Relayed::Answer(Answer {
                id: 7,
                body: AnswerBody::Answered("yes".into()),
            }),
        },
        Frame::Relay {
            peer: ALPHA,
            frame: Relayed::Direct {
                payload: "hi".into(),
            },
        },
    ]
}

fn iplog_samples() -> Vec<IpLogMessage> {
    vec![
        IpLogMessage::Report(IpReport {
            name: "laptop".into(),
            timestamp_ms: 1_700_000_000_000,
            nonce: 99,
        }),
        IpLogMessage::Ack { nonce: 99 },
        IpLogMessage::Refused {
            nonce: 99,
            reason: ReportRefusal::HostCap,
        },
    ]
}

fn event_samples() -> Vec<BridgeEvent> {
    let answered = AskOutcome::Answered {
        payload: "42".into(),
        latency_ms: 3,
    };
    let timeout = AskOutcome::NoAnswer(NoAnswer::Timeout);
    let change = IpChange {
        host: "laptop".into(),
        old_ip: Some("198.51.100.20".parse().unwrap()),
        new_ip: "198.51.100.21".parse().unwrap(),
        at_ms: 1_700_000_000_000,
        source: IpChangeSource::Discovery,
    };
    let period = IpPeriod {
        host: "laptop".into(),
        ip: "198.51.100.20".parse().unwrap(),
        first_seen_ms: 1,
        last_seen_ms: 2,
        reports: 3,
    };
    vec![
        BridgeEvent::Snapshot(Snapshot {
            node: peer(),
            peers: vec![peer()],
            subscriptions: vec!["chat".into()],
            recent: vec![BridgeEvent::PeerJoined {
                peer: peer(),
                at_ms: 5,
            }],
        }),
        BridgeEvent::PeerChanged {
            peer: peer(),
            at_ms: 6,
        },
        BridgeEvent::PeerLeft {
            peer: PeerInfo {
                state: PeerState::Left,
                ..peer()
            },
            at_ms: 7,
        },
        BridgeEvent::PeerLost {
            peer: PeerInfo {
                state: PeerState::Lost,
                ..peer()
            },
            at_ms: 8,
        },
        BridgeEvent::Message(MessageEvent {
            from: BRAVO,
            from_name: "bravo".into(),
            topic: Some("chat".into()),
            payload: Payload(vec![0xff]),
            at_ms: 9,
        }),
        BridgeEvent::Answer {
            question_id: 1,
            peer: "bravo".into(),
            outcome: answered.clone(),
        },
        BridgeEvent::AskDone {
            question_id: 1,
            outcomes: [("bravo".to_owned(), answered), ("zulu".to_owned(), timeout)].into(),
        },
        BridgeEvent::IpChanged(change),
        BridgeEvent::Lagged { missed: 17 },
        BridgeEvent::Stats(Stats {
            counters: [("bridge.lagged".to_owned(), 1)].into(),
            ..Stats::default()
        }),
        BridgeEvent::NodeError {
            context: "answer handler".into(),
            message: "panicked".into(),
        },
        BridgeEvent::ok(
            2,
            CommandOk::History(HistoryPage {
                periods: vec![period],
                total: 1,
                next_offset: None,
            }),
        ),
        BridgeEvent::ok(
            3,
            CommandOk::Sent {
                delivered: vec!["bravo".into()],
                unknown: vec!["nobody".into()],
                failed: [("charlie".to_owned(), "unreachable".to_owned())].into(),
            },
        ),
        BridgeEvent::error(
            4,
            CommandError::UnknownPeer {
                names: vec!["nobody".into()],
            },
        ),
    ]
}

fn command_samples() -> Vec<BridgeRequest> {
    let commands = vec![
        BridgeCommand::Subscribe {
            topic: "sensors.*".into(),
        },
        BridgeCommand::Unsubscribe {
            topic: "sensors.*".into(),
        },
        BridgeCommand::Publish {
            topic: "chat".into(),
            payload: "hi".into(),
        },
        BridgeCommand::Send {
            targets: Targets::All,
            payload: Payload(vec![1, 2]),
        },
        BridgeCommand::Ask {
            targets: Targets::Names(vec!["bravo".into()]),
            question: "?".into(),
            timeout_ms: 1500,
        },
        BridgeCommand::History(HistoryQuery {
            host: Some("laptop".into()),
            from_ms: Some(1),
            to_ms: None,
            offset: 0,
            limit: 50,
        }),
        BridgeCommand::Peers,
        BridgeCommand::Stats,
    ];
    commands
        .into_iter()
        .enumerate()
        .map(|(id, command)| BridgeRequest {
            id: id as u64,
            command,
        })
        .collect()
}

fn fake_mac(bytes: &[u8]) -> [u8; 32] {
    let mut mac = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        mac[i % 32] = mac[i % 32].rotate_left(1) ^ b;
    }
    mac
}

#[test]
fn discovery_datagrams_round_trip() {
    let signer = Signer {
        timestamp_ms: 1_700_000_000_000,
        mac: &fake_mac,
    };
    for message in discovery_samples() {
        let plain = discovery::encode_datagram(&message, None).unwrap();
        assert_eq!(discovery::decode_datagram(&plain).unwrap().message, message);
        let signed = discovery::encode_datagram(&message, Some(&signer)).unwrap();
        let decoded = discovery::decode_datagram(&signed).unwrap();
        assert_eq!(decoded.message, message);
        let auth = decoded.auth.unwrap();
        assert_eq!(auth.mac, fake_mac(auth.signed_bytes));
    }
}

#[test]
fn frames_round_trip_one_by_one_and_batched() {
    let mut batch = Vec::new();
    for sample in frame_samples() {
        let bytes = frame::encode_to_vec(&sample).unwrap();
        assert_eq!(
            frame::decode(&bytes, frame::MAX_FRAME_LEN).unwrap(),
            Some((sample.clone(), bytes.len()))
        );
        frame::encode(&sample, &mut batch, frame::MAX_FRAME_LEN).unwrap();
    }
    let mut at = 0;
    for sample in frame_samples() {
        let (got, used) = frame::decode(&batch[at..], frame::MAX_FRAME_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(got, sample);
        at += used;
    }
    assert_eq!(at, batch.len());
}

#[test]
fn ip_log_datagrams_round_trip() {
    for message in iplog_samples() {
        let bytes = iplog::encode_report_datagram(&message, None).unwrap();
        match iplog::classify_report_datagram(&bytes).unwrap() {
            ReportDatagram::Herald(datagram) => assert_eq!(datagram.message, message),
            other => panic!("classified as {other:?}"),
        }
    }
    assert_eq!(
        iplog::classify_report_datagram(b"laptop\n").unwrap(),
        ReportDatagram::Legacy("laptop".into())
    );
}

#[test]
fn bridge_json_round_trips() {
    for event in event_samples() {
        assert_eq!(BridgeEvent::from_json(&event.to_json()).unwrap(), event);
    }
    for request in command_samples() {
        assert_eq!(
            BridgeRequest::from_json(&request.to_json()).unwrap(),
            request
        );
    }
}

#[test]
fn golden_bytes_pin_the_wire() {
    assert_eq!(
        frame::encode_to_vec(&Frame::Bye).unwrap(),
        [0, 0, 0, 2, 3, 12]
    );
    assert_eq!(
        frame::encode_to_vec(&Frame::Ping { nonce: 300 }).unwrap(),
        [0, 0, 0, 4, 3, 8, 0xac, 0x02]
    );
    let relay = Frame::Relay {
        peer: herald_core::NodeId([1; 16]),
        frame: Relayed::Direct {
            payload: Payload(vec![5]),
        },
    };
    let mut relay_bytes = vec![0, 0, 0, 21, 3, 13];
    relay_bytes.extend([1; 16]);
    relay_bytes.extend([0, 1, 5]);
    assert_eq!(frame::encode_to_vec(&relay).unwrap(), relay_bytes);
    let publish = Frame::Publish(Publish {
        topic: "t".into(),
        seq: 1,
        payload: Payload(vec![7, 8]),
    });
    assert_eq!(
        frame::encode_to_vec(&publish).unwrap(),
        [0, 0, 0, 8, 3, 3, 1, b't', 1, 2, 7, 8]
    );
    let lookup = DiscoveryMessage::Lookup(LookupQuery {
        query_id: 1,
        service: "web".into(),
    });
    assert_eq!(
        discovery::encode_datagram(&lookup, None).unwrap(),
        b"HRLD\x03\x00\x01\x01\x03web"
    );
    let ack = IpLogMessage::Ack { nonce: 5 };
    assert_eq!(
        iplog::encode_report_datagram(&ack, None).unwrap(),
        b"\0HIP\x03\x00\x01\x05"
    );
    let event = BridgeEvent::PeerLost {
        peer: peer(),
        at_ms: 8,
    };
    let json = event.to_json();
    assert!(json.starts_with(r#"{"type":"peer_lost","peer":{"node_id":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1","name":"alpha","kind":"herald","addr":"198.51.100.11","tcp":"198.51.100.11:40001","services":{"web":"198.51.100.11:8080"}"#), "{json}");
}

#[test]
fn bad_input_gets_the_right_error() {
    let mut bytes = frame::encode_to_vec(&Frame::Bye).unwrap();
    assert_eq!(frame::decode(&bytes[..3], frame::MAX_FRAME_LEN), Ok(None));
    assert_eq!(
        frame::decode(&[0x7f, 0, 0, 0], frame::MAX_FRAME_LEN),
        Err(DecodeError::TooLarge {
            len: 0x7f00_0000,
            max: frame::MAX_FRAME_LEN
        })
    );
    bytes[4] = 0;
    assert_eq!(
        frame::decode(&bytes, frame::MAX_FRAME_LEN),
        Err(DecodeError::BadVersion(0))
    );
    assert_eq!(
        discovery::decode_datagram(b"HRL").unwrap_err(),
        DecodeError::BadMagic
    );
    assert_eq!(
        discovery::decode_datagram(b"HRLD\x03").unwrap_err(),
        DecodeError::Truncated { needed: 6, got: 5 }
    );
    assert!(matches!(
        discovery::decode_datagram(b"HRLD\x03\x00\xff").unwrap_err(),
        DecodeError::Malformed(_)
    ));
    assert!(BridgeRequest::from_json(r#"{"id":1,"type":"publish"}"#).is_err());
    let _ = BTreeMap::<u8, u8>::new();
}
