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

pub mod asks;
pub mod connection;
pub mod feed;
pub mod history;
pub mod log;
pub mod peers;

use std::collections::{BTreeMap, BTreeSet};

use herald_core::bridge::{
    BridgeCommand, BridgeEvent, BridgeRequest, CommandOk, CommandResult, PeerInfo, Stats,
};

pub use connection::{Backoff, ConnState};

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
            BridgeCommand::Peers | BridgeCommand::Stats => Action::Refresh,
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
    pub subscriptions: BTreeSet<String>,
    /// Questions asked from this page.
    pub asks: asks::Asks,
    /// IP history as queried, kept up to date by live changes.
    pub history: history::IpHistory,
    /// Every event.
    pub log: log::EventLog,
    /// The latest counters.
    pub stats: Stats,
    /// The latest error per action; cleared by the action's next success.
    pub errors: BTreeMap<Action, String>,
    /// Frames from the bridge that were not a known event (logged to the console too).
    pub unreadable: u64,
    /// Requests sent and not yet answered.
    pending: BTreeMap<u64, (Action, BridgeCommand)>,
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
    pub fn known_topics(&self) -> BTreeSet<String> {
        let mut topics = self.subscriptions.clone();
        topics.extend(self.peers.topics());
        topics
    }

    /// Requests sent and not answered yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The connection closed: requests in flight will get no reply.
    pub fn connection_lost(&mut self) {
        for (_, (action, _)) in std::mem::take(&mut self.pending) {
            self.errors
                .insert(action, "the connection closed before the reply".into());
        }
    }

    /// Folds one event from the bridge into the state.
    pub fn apply(&mut self, event: BridgeEvent) {
        self.log.push(&event);
        match event {
            BridgeEvent::Snapshot(snapshot) => {
                self.node = Some(snapshot.node);
                self.peers.replace_live(snapshot.peers);
                self.subscriptions = snapshot.subscriptions.into_iter().collect();
                for recent in snapshot.recent {
                    // Recent messages fill the feed; peers come from the snapshot itself.
                    if let BridgeEvent::Message(message) = recent {
                        self.feed.push(message);
                    }
                }
            }
            BridgeEvent::PeerJoined { peer, .. } | BridgeEvent::PeerChanged { peer, .. } => {
                self.peers.upsert(peer)
            }
            BridgeEvent::PeerLeft { peer, .. } | BridgeEvent::PeerLost { peer, .. } => {
                self.peers.upsert(peer)
            }
            BridgeEvent::Message(message) => self.feed.push(message),
            BridgeEvent::Answer {
                question_id,
                peer,
                outcome,
            } => self.asks.answer(question_id, peer, outcome),
            BridgeEvent::AskDone {
                question_id,
                outcomes,
            } => self.asks.done(question_id, outcomes),
            BridgeEvent::IpChanged(change) => self.history.apply_change(&change),
            BridgeEvent::Stats(stats) => self.stats = stats,
            BridgeEvent::Lagged { .. } | BridgeEvent::NodeError { .. } => {}
            BridgeEvent::Reply(reply) => {
                let Some((action, command)) = reply.id.and_then(|id| self.pending.remove(&id))
                else {
                    return;
                };
                match reply.result {
                    CommandResult::Ok(ok) => {
                        self.errors.remove(&action);
                        self.apply_ok(command, ok);
                    }
                    CommandResult::Error(error) => {
                        self.errors.insert(action, error.to_string());
                    }
                }
            }
        }
    }

    fn apply_ok(&mut self, command: BridgeCommand, ok: CommandOk) {
        match (command, ok) {
            (_, CommandOk::Subscribed { topic }) => {
                self.subscriptions.insert(topic);
            }
            (_, CommandOk::Unsubscribed { topic }) => {
                self.subscriptions.remove(&topic);
            }
            (
                BridgeCommand::Ask {
                    targets,
                    question,
                    timeout_ms,
                },
                CommandOk::Asked { question_id },
            ) => self.asks.start(question_id, targets, question, timeout_ms),
            (BridgeCommand::History(query), CommandOk::History(page)) => {
                self.history.apply_page(&query, page)
            }
            (_, CommandOk::Peers { peers }) => self.peers.replace_live(peers),
            (_, CommandOk::Stats(stats)) => self.stats = stats,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::bridge::{
        CommandError, HistoryPage, HistoryQuery, PeerState, Reply, Snapshot, Targets,
    };
    use herald_core::AskOutcome;

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
        assert!(dash.errors[&Action::Publish].contains("bad topic name"));
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
        assert!(dash.subscriptions.contains("chat.*"));
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
        dash.apply(reply(
            history.id,
            CommandResult::Ok(CommandOk::History(HistoryPage {
                periods: Vec::new(),
                total: 0,
                next_offset: None,
            })),
        ));
        assert_eq!(dash.pending(), 0);
        // A request in flight when the connection drops gets an error on its action.
        dash.request(BridgeCommand::Peers);
        dash.connection_lost();
        assert!(dash.errors.contains_key(&Action::Refresh));
        assert_eq!(dash.log.matching("").len(), 8);
    }
}
