//! The dashboard's state as plain Rust (no Leptos, no browser APIs), so it is tested natively.
//!
//! [`Dashboard`] holds everything the bridge told this page, and [`Dashboard::apply`] folds each
//! [`BridgeEvent`] into it as it arrives. Requests go out through [`Dashboard::request`], which numbers them and
//! remembers which action sent each, so a reply's error is shown next to the action that caused it.
//!
//! # Layout
//! - [`connection`]: the connection's state and the reconnect backoff.
//! - [`peers`]: the peer table (live, left, lost), sortable and filterable.
//! - [`feed`]: messages on subscribed topics and direct messages, with pause and clear.
//! - [`asks`]: questions asked from this page and each peer's outcome.
//! - [`history`]: IP address periods per host and the timeline's geometry.
//! - [`log`]: every event, filterable.
//! - [`traffic`]: message rates, questions and trouble counters over time, for the overview.
//! - [`graph`]: the network picture's layout (hosts, peers, gateways, links).
//! - [`vec_map`]: the page's map and set type (a sorted `Vec`: smaller in the wasm than `BTreeMap`).
//!
//! [`Dashboard::apply`] says which [`Parts`] an event changed, so the page repaints only the views that read
//! them.

pub mod asks;
pub mod connection;
pub mod feed;
pub mod graph;
pub mod history;
pub mod log;
pub mod peers;
pub mod traffic;
pub mod vec_map;

use herald_core::bridge::{
    BridgeCommand, BridgeEvent, BridgeRequest, CommandError, CommandOk, CommandResult, PeerInfo,
    Stats,
};

pub use connection::{Backoff, ConnState};
use vec_map::{VecMap, VecSet};

/// Which parts of the [`Dashboard`] changed: a set of flags, one per view's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Parts(u16);

impl Parts {
    /// Nothing.
    pub const NONE: Parts = Parts(0);
    /// The node the bridge runs in.
    pub const NODE: Parts = Parts(1);
    /// The peer table.
    pub const PEERS: Parts = Parts(1 << 1);
    /// The message feed.
    pub const FEED: Parts = Parts(1 << 2);
    /// The page's subscriptions.
    pub const SUBSCRIPTIONS: Parts = Parts(1 << 3);
    /// Questions asked from the page.
    pub const ASKS: Parts = Parts(1 << 4);
    /// The IP history.
    pub const HISTORY: Parts = Parts(1 << 5);
    /// The event log.
    pub const LOG: Parts = Parts(1 << 6);
    /// Counters, rates and links.
    pub const STATS: Parts = Parts(1 << 7);
    /// Errors per action, and unreadable frames.
    pub const ERRORS: Parts = Parts(1 << 8);
    /// Every part.
    pub const ALL: Parts = Parts(u16::MAX);
    /// How many flags there are.
    pub const COUNT: usize = 9;

    /// Both sets.
    pub const fn with(self, other: Parts) -> Parts {
        Parts(self.0 | other.0)
    }

    /// Whether flag number `index` (0 = [`Parts::NODE`]) is in the set.
    pub const fn has_index(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// Whether any flag of `other` is in the set.
    pub const fn intersects(self, other: Parts) -> bool {
        self.0 & other.0 != 0
    }
}

impl std::ops::BitOr for Parts {
    type Output = Parts;
    fn bitor(self, other: Parts) -> Parts {
        self.with(other)
    }
}

impl std::ops::BitOrAssign for Parts {
    fn bitor_assign(&mut self, other: Parts) {
        *self = self.with(other);
    }
}

/// What a request was for: the place its error is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Subscribing or unsubscribing a topic.
    Subscribe,
    /// Publishing.
    Publish,
    /// A direct message.
    Send,
    /// A question.
    Ask,
    /// An IP-history query.
    History,
    /// Listing peers or reading counters.
    Refresh,
}

impl Action {
    /// The action a command belongs to.
    pub fn of(command: &BridgeCommand) -> Action {
        match command {
            BridgeCommand::Subscribe { .. } | BridgeCommand::Unsubscribe { .. } => {
                Action::Subscribe
            }
            BridgeCommand::Publish { .. } => Action::Publish,
            BridgeCommand::Send { .. } => Action::Send,
            BridgeCommand::Ask { .. } => Action::Ask,
            BridgeCommand::History(_) => Action::History,
            BridgeCommand::Peers | BridgeCommand::Stats | BridgeCommand::WatchStats { .. } => {
                Action::Refresh
            }
        }
    }
}

/// Everything the page knows.
#[derive(Debug, Default)]
pub struct Dashboard {
    /// The node the bridge runs in.
    pub node: Option<PeerInfo>,
    /// Peers seen since the page connected.
    pub peers: peers::PeerTable,
    /// Messages received.
    pub feed: feed::Feed,
    /// Topic patterns this page subscribed to (as the bridge confirmed).
    pub subscriptions: VecSet<String>,
    /// Questions asked from this page.
    pub asks: asks::Asks,
    /// IP history as queried, kept up to date by live changes.
    pub history: history::IpHistory,
    /// Every event.
    pub log: log::EventLog,
    /// The latest counters.
    pub stats: Stats,
    /// Counters over time: rates, questions, trouble, open links.
    pub traffic: traffic::Traffic,
    /// The page's clock (unix ms) when the latest event arrived; the connection sets it.
    pub now_ms: u64,
    /// The latest error per action; cleared by the action's next success.
    pub errors: VecMap<Action, String>,
    /// Frames from the bridge that were not a known event (logged to the console too).
    pub unreadable: u64,
    /// Requests sent and not yet answered.
    pending: VecMap<u64, (Action, BridgeCommand)>,
    next_id: u64,
}

impl Dashboard {
    /// A request for `command`, numbered and remembered until its reply.
    pub fn request(&mut self, command: BridgeCommand) -> BridgeRequest {
        self.next_id += 1;
        let id = self.next_id;
        self.pending
            .insert(id, (Action::of(&command), command.clone()));
        BridgeRequest { id, command }
    }

    /// Topic patterns known on the LAN (live peers' subscriptions and this page's), for choosing a topic.
    pub fn known_topics(&self) -> VecSet<String> {
        let mut topics = self.subscriptions.clone();
        for topic in self.peers.topics() {
            topics.add(topic);
        }
        topics
    }

    /// Requests sent and not answered yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The connection closed: requests in flight will get no reply.
    pub fn connection_lost(&mut self) -> Parts {
        for (_, (action, _)) in self.pending.take() {
            self.errors
                .insert(action, "the connection closed before the reply".into());
        }
        Parts::ERRORS
    }

    /// Folds one event from the bridge into the state; returns the parts it changed.
    pub fn apply(&mut self, event: BridgeEvent) -> Parts {
        let json = event.to_json();
        self.apply_json(event, json)
    }

    /// [`Dashboard::apply`] for an event whose JSON text is at hand (as it came from the bridge), so the
    /// event log keeps that text rather than encoding the event again.
    pub fn apply_json(&mut self, event: BridgeEvent, json: String) -> Parts {
        // Counters pushed every second would bury the log; other stats events are logged.
        let logged = if matches!(&event, BridgeEvent::Stats(stats) if stats.at_ms != 0) {
            Parts::NONE
        } else {
            self.log.push_json(&event, json);
            Parts::LOG
        };
        logged
            | match event {
                BridgeEvent::Snapshot(snapshot) => {
                    self.node = Some(snapshot.node);
                    self.peers.replace_live(snapshot.peers);
                    self.subscriptions = snapshot
                        .subscriptions
                        .into_iter()
                        .map(|t| (t, ()))
                        .collect();
                    for recent in snapshot.recent {
                        // Recent messages fill the feed; peers come from the snapshot itself.
                        if let BridgeEvent::Message(message) = recent {
                            self.feed.push(message);
                        }
                    }
                    Parts::NODE | Parts::PEERS | Parts::SUBSCRIPTIONS | Parts::FEED
                }
                BridgeEvent::PeerJoined { peer, .. }
                | BridgeEvent::PeerChanged { peer, .. }
                | BridgeEvent::PeerLeft { peer, .. }
                | BridgeEvent::PeerLost { peer, .. } => {
                    self.peers.upsert(peer);
                    Parts::PEERS
                }
                BridgeEvent::Message(message) => {
                    self.feed.push(message);
                    Parts::FEED
                }
                BridgeEvent::Answer {
                    question_id,
                    peer,
                    outcome,
                } => {
                    self.asks.answer(question_id, peer, outcome);
                    Parts::ASKS
                }
                BridgeEvent::AskDone {
                    question_id,
                    outcomes,
                } => {
                    self.asks.done(question_id, outcomes);
                    Parts::ASKS
                }
                BridgeEvent::IpChanged(change) => {
                    self.history.apply_change(&change);
                    Parts::HISTORY
                }
                BridgeEvent::Stats(stats) => self.apply_stats(stats),
                BridgeEvent::Lagged { .. } | BridgeEvent::NodeError { .. } => Parts::NONE,
                BridgeEvent::Reply(reply) => {
                    let Some((action, command)) = reply.id.and_then(|id| self.pending.remove(&id))
                    else {
                        return logged;
                    };
                    match reply.result {
                        CommandResult::Ok(ok) => {
                            self.errors.remove(&action);
                            Parts::ERRORS | self.apply_ok(command, ok)
                        }
                        // A node without an IP log refuses history queries: no error, a plain note.
                        CommandResult::Error(CommandError::Unavailable { .. })
                            if action == Action::History =>
                        {
                            self.history.no_log = true;
                            self.errors.remove(&action);
                            Parts::ERRORS | Parts::HISTORY
                        }
                        CommandResult::Error(error) => {
                            self.errors.insert(action, error.to_string());
                            Parts::ERRORS
                        }
                    }
                }
            }
    }

    fn apply_stats(&mut self, stats: Stats) -> Parts {
        self.traffic.apply(stats.clone(), self.now_ms);
        self.stats = stats;
        Parts::STATS
    }

    fn apply_ok(&mut self, command: BridgeCommand, ok: CommandOk) -> Parts {
        match (command, ok) {
            (_, CommandOk::Subscribed { topic }) => {
                self.subscriptions.add(topic);
                Parts::SUBSCRIPTIONS
            }
            (_, CommandOk::Unsubscribed { topic }) => {
                self.subscriptions.remove(&topic);
                Parts::SUBSCRIPTIONS
            }
            (
                BridgeCommand::Ask {
                    targets,
                    question,
                    timeout_ms,
                },
                CommandOk::Asked { question_id },
            ) => {
                self.asks.start(question_id, targets, question, timeout_ms);
                Parts::ASKS
            }
            (BridgeCommand::History(query), CommandOk::History(page)) => {
                self.history.apply_page(&query, page);
                Parts::HISTORY
            }
            (_, CommandOk::Peers { peers }) => {
                self.peers.replace_live(peers);
                Parts::PEERS
            }
            (_, CommandOk::Stats(stats)) => self.apply_stats(stats),
            _ => Parts::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::bridge::{HistoryPage, HistoryQuery, PeerState, Reply, Snapshot, Targets};
    use herald_core::AskOutcome;

    fn empty_page() -> CommandResult {
        CommandResult::Ok(CommandOk::History(HistoryPage {
            periods: Vec::new(),
            total: 0,
            next_offset: None,
        }))
    }

    fn reply(id: u64, result: CommandResult) -> BridgeEvent {
        BridgeEvent::Reply(Reply {
            id: Some(id),
            result,
        })
    }

    #[test]
    fn events_and_replies_fold_into_the_views_and_errors_land_on_their_action() {
        let mut dash = Dashboard::default();
        let node = peers::tests::peer("hub", "10.0.0.1", PeerState::Live, 1);
        dash.apply(BridgeEvent::Snapshot(Snapshot {
            node: node.clone(),
            peers: vec![peers::tests::peer("alpha", "10.0.0.2", PeerState::Live, 1)],
            subscriptions: Vec::new(),
            recent: Vec::new(),
        }));
        assert_eq!(dash.node.as_ref().unwrap().name, "hub");
        dash.apply(BridgeEvent::PeerLost {
            peer: peers::tests::peer("alpha", "10.0.0.2", PeerState::Lost, 2),
            at_ms: 2,
        });
        assert!(dash.peers.live_names().is_empty());

        // A failed publish shows its error; a later success clears it.
        let publish = dash.request(BridgeCommand::Publish {
            topic: "bad topic".into(),
            payload: "x".into(),
        });
        let error = CommandError::BadRequest {
            message: "bad topic name".into(),
        };
        dash.apply(reply(publish.id, CommandResult::Error(error)));
        assert!(dash
            .errors
            .get(&Action::Publish)
            .unwrap()
            .contains("bad topic name"));
        let publish = dash.request(BridgeCommand::Publish {
            topic: "ok".into(),
            payload: "x".into(),
        });
        dash.apply(reply(
            publish.id,
            CommandResult::Ok(CommandOk::Published {
                topic: "ok".into(),
                subscribers: 0,
            }),
        ));
        assert!(!dash.errors.contains_key(&Action::Publish));

        // Subscribe, ask and history replies update their views.
        let subscribe = dash.request(BridgeCommand::Subscribe {
            topic: "chat.*".into(),
        });
        dash.apply(reply(
            subscribe.id,
            CommandResult::Ok(CommandOk::Subscribed {
                topic: "chat.*".into(),
            }),
        ));
        assert!(dash.subscriptions.contains_key("chat.*"));
        let ask = dash.request(BridgeCommand::Ask {
            targets: Targets::All,
            question: "ping".into(),
            timeout_ms: 1000,
        });
        dash.apply(reply(
            ask.id,
            CommandResult::Ok(CommandOk::Asked { question_id: 4 }),
        ));
        dash.apply(BridgeEvent::Answer {
            question_id: 4,
            peer: "alpha".into(),
            outcome: AskOutcome::Answered {
                payload: "pong".into(),
                latency_ms: 2,
            },
        });
        assert_eq!(
            dash.asks.newest_first().next().unwrap().state_of("alpha"),
            "answered"
        );
        let history = dash.request(BridgeCommand::History(HistoryQuery {
            host: None,
            from_ms: None,
            to_ms: None,
            offset: 0,
            limit: 10,
        }));
        dash.apply(reply(history.id, empty_page()));
        assert_eq!(dash.pending(), 0);
        // A request in flight when the connection drops gets an error on its action.
        dash.request(BridgeCommand::Peers);
        dash.connection_lost();
        assert!(dash.errors.contains_key(&Action::Refresh));
        assert_eq!(dash.log.matching("").len(), 8);
    }

    #[test]
    fn a_node_without_an_ip_log_is_said_plainly_not_as_an_error() {
        let mut dash = Dashboard::default();
        let query = HistoryQuery {
            host: Some("alpha".into()),
            from_ms: None,
            to_ms: None,
            offset: 0,
            limit: 100,
        };
        let history = dash.request(BridgeCommand::History(query.clone()));
        let refusal = CommandError::Unavailable {
            message: "this node keeps no IP log".into(),
        };
        let parts = dash.apply(reply(history.id, CommandResult::Error(refusal)));
        assert!(parts.intersects(Parts::HISTORY));
        assert!(dash.history.no_log);
        assert!(dash.errors.get(&Action::History).is_none());
        // Other failures of a query are errors; a page clears the note.
        let history = dash.request(BridgeCommand::History(query.clone()));
        let failure = CommandError::Internal {
            message: "disk".into(),
        };
        dash.apply(reply(history.id, CommandResult::Error(failure)));
        assert!(dash.errors.get(&Action::History).is_some());
        let history = dash.request(BridgeCommand::History(query));
        dash.apply(reply(history.id, empty_page()));
        assert!(!dash.history.no_log);
    }
}
