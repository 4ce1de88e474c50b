//! The bridge protocol: JSON text frames between a node's bridge and browsers (or any WebSocket client).
//!
//! Out: [`BridgeEvent`] (`{"type": "peer_joined", ...}`). In: [`BridgeRequest`], a client-chosen `id` plus a
//! [`BridgeCommand`] (`{"id": 7, "type": "publish", "topic": "t", "payload": {"text": "hi"}}`). Every request
//! gets exactly one [`BridgeEvent::Reply`] with the same id: ok with a [`CommandOk`], or a [`CommandError`].
//! An `ask` replies `ok {question_id}` at once; answers follow as `answer` events and one final `ask_done`.
//!
//! These types are JSON-only (internally tagged enums, their tag always the first field: a reader decodes an
//! event as it streams by, without buffering it); the CLI's `--json` lines are the same events.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::ids::{NodeId, PeerKind};
use crate::iplog::{IpChange, IpPeriod};
use crate::payload::Payload;
use crate::question::AskOutcome;
use crate::tagged::tag_first;

/// Largest WebSocket message the bridge accepts from a client by default (64 KiB).
pub const MAX_WS_MESSAGE: usize = 64 * 1024;

/// Everything the bridge sends to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum BridgeEvent {
    /// First event on every connection: the state as it stands.
    Snapshot(Snapshot),
    /// A peer appeared.
    PeerJoined {
        /// The peer as now known.
        peer: PeerInfo,
        /// When (unix ms).
        at_ms: u64,
    },
    /// A peer's address, services or topics changed.
    PeerChanged {
        /// The peer as now known.
        peer: PeerInfo,
        /// When (unix ms).
        at_ms: u64,
    },
    /// A peer left gracefully.
    PeerLeft {
        /// The peer as last known.
        peer: PeerInfo,
        /// When (unix ms).
        at_ms: u64,
    },
    /// A peer stopped sending beacons and expired.
    PeerLost {
        /// The peer as last known.
        peer: PeerInfo,
        /// When (unix ms).
        at_ms: u64,
    },
    /// A message on a subscribed topic, or a direct message to this node.
    Message(MessageEvent),
    /// One peer's outcome for a question this client asked, as soon as it is known.
    Answer {
        /// The id from the `asked` reply.
        question_id: u64,
        /// The peer's name.
        peer: String,
        /// What came of it.
        outcome: AskOutcome,
    },
    /// Every asked peer's final outcome, once all have answered or the timeout passed.
    AskDone {
        /// The id from the `asked` reply.
        question_id: u64,
        /// Outcome per asked name.
        outcomes: BTreeMap<String, AskOutcome>,
    },
    /// A host's address changed (from IP reports or discovery).
    IpChanged(IpChange),
    /// This client fell behind and missed `missed` events; it is disconnected if it stays behind.
    Lagged {
        /// Events dropped for this client since the last notice.
        missed: u64,
    },
    /// Counters (drops, refusals, rejects, queue depths), by name.
    Stats(Stats),
    /// Something failed on the node that no command caused (e.g. an answer handler panicked).
    NodeError {
        /// What was being done.
        context: String,
        /// What went wrong.
        message: String,
    },
    /// The one reply to a [`BridgeRequest`].
    Reply(Reply),
}
tag_first!(BridgeEvent, "type");

/// The state of the node when a client connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Snapshot {
    /// The node the bridge runs in.
    pub node: PeerInfo,
    /// Live peers.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::few_peers()")
    )]
    pub peers: Vec<PeerInfo>,
    /// Topic patterns this client is subscribed to. A fresh connection starts with the node's own (the node
    /// subscribes each new client to the patterns it was started with).
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::few_strings()")
    )]
    pub subscriptions: Vec<String>,
    /// The most recent events, oldest first (never snapshots).
    #[cfg_attr(all(test, not(target_arch = "wasm32")), proptest(value = "Vec::new()"))]
    pub recent: Vec<BridgeEvent>,
}

/// A peer as the bridge and CLI show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct PeerInfo {
    /// Its id.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// What sort of program it is.
    pub kind: PeerKind,
    /// Its address.
    pub addr: IpAddr,
    /// Its link endpoint, if it takes links.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::maybe_socket_addr()")
    )]
    pub tcp: Option<SocketAddr>,
    /// Services, as `ip:port`.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::services()")
    )]
    pub services: BTreeMap<String, SocketAddr>,
    /// Subscribed topics.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::few_strings()")
    )]
    pub topics: Vec<String>,
    /// The gateway proxying it, for legacy peers and peers at other sites.
    pub via: Option<NodeId>,
    /// The site it is at, for a peer at another site (reached through the NATS gateway `via`); `None` on this
    /// node's own LAN. Absent in JSON from older nodes.
    #[serde(default)]
    pub site: Option<String>,
    /// TXT records, for a peer found by DNS-SD (kind `mdns`): key to value, as many as its beacon carries (see
    /// `discovery::MAX_TXT_BYTES`); empty for others. A JSON object; absent in JSON from older nodes.
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(strategy = "crate::arbitrary::txt()")
    )]
    #[serde(default)]
    pub txt: BTreeMap<String, String>,
    /// First beacon seen (unix ms).
    pub first_seen_ms: u64,
    /// Latest beacon seen (unix ms).
    pub last_seen_ms: u64,
    /// Live, or how it went away.
    pub state: PeerState,
}

impl PeerInfo {
    /// How the peer is addressed by name: `name` on this node's LAN, `name@site` for a peer at another site
    /// (names are unique only within a site).
    pub fn address(&self) -> String {
        peer_address(&self.name, self.site.as_deref())
    }
}

/// `name`, or `name@site` for a peer at another site (see [`PeerInfo::address`]).
pub fn peer_address(name: &str, site: Option<&str>) -> String {
    match site {
        Some(site) => format!("{name}@{site}"),
        None => name.to_owned(),
    }
}

/// Whether a peer is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum PeerState {
    /// Beacons arrive.
    Live,
    /// It sent a leave beacon.
    Left,
    /// Its beacons stopped and it expired.
    Lost,
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct MessageEvent {
    /// The sender's id.
    pub from: NodeId,
    /// The sender's name.
    pub from_name: String,
    /// The topic, or `None` for a direct message.
    pub topic: Option<String>,
    /// The bytes.
    pub payload: Payload,
    /// When received (unix ms).
    pub at_ms: u64,
}

/// Named counters.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Stats {
    /// Counter name (e.g. `discovery.dropped.malformed`) to value.
    pub counters: BTreeMap<String, u64>,
    /// When the counters were read (unix ms; 0 when the sender did not say). Set in the stats pushed to a
    /// client that sent [`BridgeCommand::WatchStats`], so rates can be computed from two of them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub at_ms: u64,
    /// The links this node has open, with their traffic (filled in pushed stats; empty otherwise).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(
        all(test, not(target_arch = "wasm32")),
        proptest(
            strategy = "proptest::collection::vec(proptest::prelude::any::<LinkInfo>(), 0..3)"
        )
    )]
    pub links: Vec<LinkInfo>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Words that mark a counter of trouble (`discovery.dropped.malformed`, `bridge.refused.token`, ...).
const TROUBLE: &[&str] = &[
    "dropped",
    "refused",
    "refusals",
    "rejected",
    "errors",
    "failed",
    "discarded",
    "missed",
    "lagged",
    "not_queued",
    "timed_out",
    "busy",
    "disconnected",
    "bad_",
    "claims",
    "unexpected",
];

/// True for a counter (a name in [`Stats::counters`]) that counts something going wrong rather than traffic.
pub fn is_trouble_counter(name: &str) -> bool {
    TROUBLE.iter().any(|word| name.contains(word))
}
/// How often the bridge pushes [`Stats`] to a client that asked with [`BridgeCommand::WatchStats`] (ms).
pub const STATS_PUSH_EVERY_MS: u64 = 1000;

/// One open link of the node, as pushed in [`Stats::links`]: one it opened (it publishes, sends and asks over
/// it) or one a peer opened to it (it receives over it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct LinkInfo {
    /// The peer at the other end.
    pub peer: NodeId,
    /// Frames this node handed to the link since it opened (written or queued).
    pub sent: u64,
    /// Frames waiting to be written now.
    pub queued: u64,
    /// Topic messages the link dropped because the peer read too slowly.
    pub dropped: u64,
    /// Which side opened the link (absent in JSON: outbound, as before inbound links were listed).
    #[serde(default, skip_serializing_if = "LinkDirection::is_outbound")]
    pub direction: LinkDirection,
    /// Frames this node read from an inbound link since it opened (0 and absent for an outbound one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub received: u64,
}

/// Which side opened a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum LinkDirection {
    /// This node opened it: it publishes, sends and asks over it.
    #[default]
    Outbound,
    /// The peer opened it: this node receives the peer's messages and questions over it.
    Inbound,
}

impl LinkDirection {
    fn is_outbound(&self) -> bool {
        *self == LinkDirection::Outbound
    }
}

/// The reply to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct Reply {
    /// The request's id; `None` only when the request was too malformed to carry one.
    pub id: Option<u64>,
    /// Ok or error.
    pub result: CommandResult,
}

/// A command's result: `{"ok": {...}}` or `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum CommandResult {
    /// It worked.
    Ok(CommandOk),
    /// It did not.
    Error(CommandError),
}

/// What a successful command returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum CommandOk {
    /// Subscribed (messages follow as `message` events).
    Subscribed {
        /// The topic pattern.
        topic: String,
    },
    /// Unsubscribed.
    Unsubscribed {
        /// The topic pattern.
        topic: String,
    },
    /// Published.
    Published {
        /// The topic.
        topic: String,
        /// How many subscribers (local and remote) it was queued for.
        subscribers: u32,
    },
    /// Direct message sent.
    Sent {
        /// Names it was queued for.
        delivered: Vec<String>,
        /// Names no live peer has.
        unknown: Vec<String>,
        /// Names known but not reached, with the reason (unreachable, or too slow).
        #[serde(default)]
        failed: BTreeMap<String, String>,
    },
    /// Question sent; `answer` and `ask_done` events follow.
    Asked {
        /// Id to match the events.
        question_id: u64,
    },
    /// A page of IP history.
    History(HistoryPage),
    /// The live peers.
    Peers {
        /// The peers.
        peers: Vec<PeerInfo>,
    },
    /// The counters.
    Stats(Stats),
}
tag_first!(CommandOk, "kind");

/// A page of IP-history rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct HistoryPage {
    /// The rows, by host then first seen.
    pub periods: Vec<IpPeriod>,
    /// Rows matching the query in all.
    pub total: u64,
    /// Offset of the next page, if there is one.
    pub next_offset: Option<u64>,
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(remote = "Self", rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum CommandError {
    /// Not JSON, or not a known command, or a field is missing or wrong.
    #[error("bad request: {message}")]
    BadRequest {
        /// What was wrong.
        message: String,
    },
    /// Some target names have no live peer (for `send` this is in the ok result instead).
    #[error("unknown peers: {names:?}")]
    UnknownPeer {
        /// The names.
        names: Vec<String>,
    },
    /// A message exceeded a limit.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The node cannot do this now (no IP log configured, subscriber bound reached, shutting down).
    #[error("unavailable: {message}")]
    Unavailable {
        /// Why.
        message: String,
    },
    /// The node failed.
    #[error("internal error: {message}")]
    Internal {
        /// What failed.
        message: String,
    },
}
tag_first!(CommandError, "code");

/// A client's request: its chosen id and the command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeRequest {
    /// Chosen by the client; echoed in the reply.
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub command: BridgeCommand,
}

/// Everything a client can ask the bridge to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum BridgeCommand {
    /// Receive messages on a topic pattern.
    Subscribe {
        /// Exact name or trailing wildcard.
        topic: String,
    },
    /// Stop receiving a topic pattern.
    Unsubscribe {
        /// As subscribed.
        topic: String,
    },
    /// Publish on a topic.
    Publish {
        /// The topic.
        topic: String,
        /// The bytes.
        payload: Payload,
    },
    /// Send a direct message.
    Send {
        /// To whom.
        targets: Targets,
        /// The bytes.
        payload: Payload,
    },
    /// Ask a question.
    Ask {
        /// Whom.
        targets: Targets,
        /// The question.
        question: Payload,
        /// How long to wait for answers.
        timeout_ms: u64,
    },
    /// Query the IP history.
    History(HistoryQuery),
    /// List live peers.
    Peers,
    /// Read the counters.
    Stats,
    /// Start (`on: true`) or stop the push of [`Stats`] (with [`Stats::at_ms`] and [`Stats::links`]) to this
    /// client every [`STATS_PUSH_EVERY_MS`]; replies with the counters as they stand.
    WatchStats {
        /// Whether to push.
        on: bool,
    },
}
tag_first!(BridgeCommand, "type");

/// Whom a message or question is for: `"all"` or `{"names": ["a", "b"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub enum Targets {
    /// Every live peer.
    All,
    /// These names.
    Names(Vec<String>),
}

impl Targets {
    /// These names.
    pub fn names<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Targets::Names(names.into_iter().map(Into::into).collect())
    }
}

impl From<&str> for Targets {
    fn from(name: &str) -> Self {
        Targets::Names(vec![name.to_owned()])
    }
}

impl From<String> for Targets {
    fn from(name: String) -> Self {
        Targets::Names(vec![name])
    }
}

impl From<Vec<String>> for Targets {
    fn from(names: Vec<String>) -> Self {
        Targets::Names(names)
    }
}

impl From<&[&str]> for Targets {
    fn from(names: &[&str]) -> Self {
        Targets::names(names.iter().copied())
    }
}

impl<const N: usize> From<[&str; N]> for Targets {
    fn from(names: [&str; N]) -> Self {
        Targets::names(names)
    }
}

/// An IP-history query; every field is optional in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    all(test, not(target_arch = "wasm32")),
    derive(proptest_derive::Arbitrary)
)]
pub struct HistoryQuery {
    /// Only this host.
    #[serde(default)]
    pub host: Option<String>,
    /// Periods that end at or after this time (unix ms).
    #[serde(default)]
    pub from_ms: Option<u64>,
    /// Periods that start at or before this time (unix ms).
    #[serde(default)]
    pub to_ms: Option<u64>,
    /// Rows to skip.
    #[serde(default)]
    pub offset: u64,
    /// Rows per page (the bridge caps it).
    #[serde(default = "HistoryQuery::default_limit")]
    pub limit: u32,
}

impl HistoryQuery {
    /// Rows per page when the client does not say.
    pub const DEFAULT_LIMIT: u32 = 100;

    fn default_limit() -> u32 {
        Self::DEFAULT_LIMIT
    }
}

/// A request that could not be parsed, with its id when one could be read, for the error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// The request's id, if it had a readable one.
    pub id: Option<u64>,
    /// The error to reply with.
    pub error: CommandError,
}

impl BadRequest {
    /// The reply event for this bad request.
    pub fn into_reply(self) -> BridgeEvent {
        BridgeEvent::Reply(Reply {
            id: self.id,
            result: CommandResult::Error(self.error),
        })
    }
}

impl BridgeRequest {
    /// Parses a client's text frame (its `type` anywhere among its fields). On failure the id is still recovered
    /// when the text is a JSON object with a numeric `id`, so the client can match the error to its request.
    pub fn from_json(text: &str) -> Result<BridgeRequest, BadRequest> {
        // The common case in one pass; a failure is parsed again, loosely, only to find its id and the error.
        if let Ok(request) = serde_json::from_str(text) {
            return Ok(request);
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|err| BadRequest {
            id: None,
            error: CommandError::BadRequest {
                message: format!("not JSON: {err}"),
            },
        })?;
        let id = value.get("id").and_then(serde_json::Value::as_u64);
        let serde_json::Value::Object(mut fields) = value else {
            return Err(BadRequest {
                id,
                error: CommandError::BadRequest {
                    message: "a request is a JSON object".into(),
                },
            });
        };
        // Clients may put `type` anywhere: read the fields again with it first.
        let tag = fields.remove_entry("type");
        let fields = tag.into_iter().chain(fields);
        BridgeRequest::deserialize(serde::de::value::MapDeserializer::new(fields)).map_err(
            |err: serde_json::Error| BadRequest {
                id,
                error: CommandError::BadRequest {
                    message: err.to_string(),
                },
            },
        )
    }

    /// The JSON text of this request.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("bridge requests always serialize")
    }
}

impl BridgeEvent {
    /// The JSON text of this event (one line, as the bridge and the CLI's `--json` print it).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("bridge events always serialize")
    }

    /// Parses an event sent by a bridge. Its tags (`type`, and `kind` or `code` in a reply) must be the first
    /// field of their objects, as every Herald writer puts them: the event is decoded as it is read, without
    /// buffering (see the crate's `tagged` module).
    pub fn from_json(text: &str) -> Result<BridgeEvent, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// A successful reply to request `id`.
    pub fn ok(id: u64, ok: CommandOk) -> BridgeEvent {
        BridgeEvent::Reply(Reply {
            id: Some(id),
            result: CommandResult::Ok(ok),
        })
    }

    /// A failed reply to request `id`.
    pub fn error(id: u64, error: CommandError) -> BridgeEvent {
        BridgeEvent::Reply(Reply {
            id: Some(id),
            result: CommandResult::Error(error),
        })
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn events_round_trip(event: BridgeEvent) {
            let json = event.to_json();
            prop_assert_eq!(BridgeEvent::from_json(&json).unwrap(), event);
        }

        #[test]
        fn snapshots_with_recent_events_round_trip(snapshot: Snapshot, recent in proptest::collection::vec(any::<BridgeEvent>(), 0..4)) {
            let recent = recent.into_iter().filter(|e| !matches!(e, BridgeEvent::Snapshot(_))).collect();
            let event = BridgeEvent::Snapshot(Snapshot { recent, ..snapshot });
            prop_assert_eq!(BridgeEvent::from_json(&event.to_json()).unwrap(), event);
        }

        #[test]
        fn requests_round_trip(id: u64, command: BridgeCommand) {
            let request = BridgeRequest { id, command };
            prop_assert_eq!(BridgeRequest::from_json(&request.to_json()).unwrap(), request);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}") {
            let _ = BridgeRequest::from_json(&text);
            let _ = BridgeEvent::from_json(&text);
        }
    }

    #[test]
    fn documented_request_shapes_parse() {
        let request = BridgeRequest::from_json(
            r#"{"id":7,"type":"publish","topic":"t","payload":{"text":"hi"}}"#,
        )
        .unwrap();
        assert_eq!(
            request,
            BridgeRequest {
                id: 7,
                command: BridgeCommand::Publish {
                    topic: "t".into(),
                    payload: "hi".into()
                }
            }
        );
        let request = BridgeRequest::from_json(
            r#"{"id":8,"type":"ask","targets":"all","question":{"text":"?"},"timeout_ms":500}"#,
        )
        .unwrap();
        assert!(matches!(
            request.command,
            BridgeCommand::Ask {
                targets: Targets::All,
                timeout_ms: 500,
                ..
            }
        ));
        let request = BridgeRequest::from_json(r#"{"id":9,"type":"history","host":"h"}"#).unwrap();
        assert_eq!(
            request.command,
            BridgeCommand::History(HistoryQuery {
                host: Some("h".into()),
                from_ms: None,
                to_ms: None,
                offset: 0,
                limit: 100
            })
        );
        let request = BridgeRequest::from_json(
            r#"{"id":1,"type":"send","targets":{"names":["a","b"]},"payload":{"base64":"AAE="}}"#,
        )
        .unwrap();
        assert_eq!(
            request.command,
            BridgeCommand::Send {
                targets: Targets::Names(vec!["a".into(), "b".into()]),
                payload: Payload(vec![0, 1])
            }
        );
    }

    #[test]
    fn requests_take_their_type_anywhere_and_events_have_it_first() {
        let request = BridgeRequest::from_json(
            r#"{"topic":"t","payload":{"text":"hi"},"id":7,"type":"publish"}"#,
        )
        .unwrap();
        assert_eq!(
            request.command,
            BridgeCommand::Publish {
                topic: "t".into(),
                payload: "hi".into()
            }
        );
        let request = BridgeRequest::from_json(r#"{"limit":5,"type":"history","id":3}"#).unwrap();
        assert!(matches!(
            request.command,
            BridgeCommand::History(HistoryQuery { limit: 5, .. })
        ));
        let bad = BridgeRequest::from_json(r#"[1]"#).unwrap_err();
        assert_eq!(bad.id, None);
        let bad = BridgeRequest::from_json(r#"{"id":4,"topic":"t"}"#).unwrap_err();
        assert_eq!(bad.id, Some(4));
        // Events come from Herald's own writers, which put the tag first; a reader wants it there.
        let err = BridgeEvent::from_json(r#"{"missed":4,"type":"lagged"}"#).unwrap_err();
        assert!(
            err.to_string().contains("`type` must be the first field"),
            "{err}"
        );
        let ok = r#"{"type":"reply","id":1,"result":{"ok":{"topic":"t","kind":"subscribed"}}}"#;
        let err = BridgeEvent::from_json(ok).unwrap_err();
        assert!(
            err.to_string().contains("`kind` must be the first field"),
            "{err}"
        );
    }

    #[test]
    fn bad_requests_keep_their_id_when_they_can() {
        let bad = BridgeRequest::from_json(r#"{"id":5,"type":"launch_rockets"}"#).unwrap_err();
        assert_eq!(bad.id, Some(5));
        assert!(matches!(bad.error, CommandError::BadRequest { .. }));
        let bad = BridgeRequest::from_json(r#"{"id":6,"type":"publish","topic":"t"}"#).unwrap_err();
        assert_eq!(bad.id, Some(6));
        let bad = BridgeRequest::from_json("{not json").unwrap_err();
        assert_eq!(bad.id, None);
        let reply = bad.into_reply().to_json();
        assert!(
            reply.starts_with(
                r#"{"type":"reply","id":null,"result":{"error":{"code":"bad_request""#
            ),
            "{reply}"
        );
    }

    #[test]
    fn documented_event_shapes() {
        let event = BridgeEvent::ok(3, CommandOk::Asked { question_id: 11 });
        assert_eq!(
            event.to_json(),
            r#"{"type":"reply","id":3,"result":{"ok":{"kind":"asked","question_id":11}}}"#
        );
        let request =
            BridgeRequest::from_json(r#"{"id":2,"type":"watch_stats","on":true}"#).unwrap();
        assert_eq!(request.command, BridgeCommand::WatchStats { on: true });
        // Stats from a bridge that knows nothing of pushes still read.
        let event = BridgeEvent::from_json(r#"{"type":"stats","counters":{"a":1}}"#).unwrap();
        assert!(
            matches!(event, BridgeEvent::Stats(Stats { at_ms: 0, ref links, .. }) if links.is_empty())
        );
        assert_eq!(
            BridgeEvent::Lagged { missed: 4 }.to_json(),
            r#"{"type":"lagged","missed":4}"#
        );
    }

    #[test]
    fn links_say_their_direction_and_older_pushes_read_as_outbound() {
        let peer = NodeId::from_bytes([7; 16]);
        let outbound = LinkInfo {
            peer,
            sent: 12,
            queued: 1,
            dropped: 0,
            direction: LinkDirection::Outbound,
            received: 0,
        };
        let inbound = LinkInfo {
            direction: LinkDirection::Inbound,
            received: 40,
            ..outbound.clone()
        };
        let json = serde_json::to_string(&outbound).unwrap();
        assert!(
            !json.contains("direction") && !json.contains("received"),
            "{json}"
        );
        let json = serde_json::to_string(&inbound).unwrap();
        assert!(
            json.ends_with(r#""direction":"inbound","received":40}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<LinkInfo>(&json).unwrap(), inbound);
        // A push from a node that lists only the links it opened.
        let old = format!(r#"{{"peer":"{peer}","sent":12,"queued":1,"dropped":0}}"#);
        assert_eq!(serde_json::from_str::<LinkInfo>(&old).unwrap(), outbound);
    }

    #[test]
    fn trouble_counters_are_told_from_traffic() {
        for name in [
            "discovery.dropped.malformed",
            "discovery.refused.table_full",
            "links.handshakes_failed",
            "messaging.dropped_for_slow",
            "messaging.not_queued",
            "bridge.events_dropped",
            "bridge.refused.origin",
            "bridge.disconnected.slow",
            "bridge.bad_requests",
            "dynip.rejected.rate",
            "questions.answers_timed_out",
            "node.events_lagged",
        ] {
            assert!(is_trouble_counter(name), "{name}");
        }
        for name in [
            "discovery.beacons_sent",
            "discovery.received",
            "messaging.published",
            "bridge.events_sent",
            "bridge.clients",
            "links.opened",
        ] {
            assert!(!is_trouble_counter(name), "{name}");
        }
    }
}
