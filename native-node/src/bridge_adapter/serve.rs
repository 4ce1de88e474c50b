//! The node's side of the WebSocket bridge: feeds a [`Bridge`] the node's events and answers its clients'
//! commands with the node (and its IP log, when it keeps one).
//!
//! - Peer events, direct messages, node errors and IP changes go to every client; counters go out as a
//!   `stats` event when a counter of trouble (a drop, refusal, reject, failure, lag) has moved, at most every
//!   [`STATS_EVERY`]. Traffic counters alone do not send it (they move all the time; `stats` reads them).
//!   A client that sent `watch_stats {on: true}` gets them every second instead, with the time they were read
//!   and the node's open links (the dashboard's rates, sparkline and graph edges).
//! - Topic messages go only to the clients subscribed to a matching pattern, once each: the node holds one
//!   lossless subscription per pattern some client asked for (dropped when the last one leaves), and a
//!   message goes to a client through the first of its patterns that matches.
//! - A new client's snapshot is made here whole (`snapshot`): it starts subscribed to the node's own
//!   patterns.
//! - An `ask` replies `asked` at once; the asking client then gets each `answer` as it arrives and `ask_done`.
//!
//! Nothing here waits on a client: [`Bridge::emit`] drops (and counts) for a client that is behind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_bridge::{Audience, Bridge, ClientId, Responder, ToNode};
use herald_core::bridge::{
    BridgeCommand, BridgeEvent, CommandError, CommandOk, CommandResult, HistoryQuery, Snapshot,
    Stats,
};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::event_form;
use crate::asking::MAX_ASK_TIMEOUT;
use crate::events::NodeEvent;
use crate::iplog::IpLog;
use crate::messaging::{Delivery, SendOutcome};
use crate::node::Node;
use crate::topics::TopicPattern;

/// How often counters are checked and, if a trouble counter moved, sent to clients as a `stats` event.
pub const STATS_EVERY: Duration = Duration::from_secs(5);

/// How often stats go to the clients that asked for them with `watch_stats`.
pub const STATS_PUSH_EVERY: Duration =
    Duration::from_millis(herald_core::bridge::STATS_PUSH_EVERY_MS);

pub use herald_core::bridge::is_trouble_counter;

/// Largest page of IP history one `history` command returns.
pub const MAX_HISTORY_PAGE: u32 = 1000;

/// A node serving a bridge. [`NodeBridge::shutdown`] stops the forwarding (the bridge itself is stopped by
/// its owner).
pub struct NodeBridge {
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

struct Context {
    node: Arc<Node>,
    iplog: Option<IpLog>,
    bridge: Bridge,
    /// Patterns the node subscribes to for itself: never unsubscribed when clients leave them.
    own_patterns: BTreeSet<String>,
    topics: Mutex<ClientTopics>,
    /// Clients that asked for stats every [`STATS_PUSH_EVERY`] (`watch_stats`).
    stat_watchers: Mutex<BTreeSet<ClientId>>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// Which client subscribed to which pattern, and the node subscription forwarding each pattern.
#[derive(Default)]
struct ClientTopics {
    by_client: HashMap<ClientId, BTreeMap<String, TopicPattern>>,
    forwarders: HashMap<String, Forwarder>,
}

struct Forwarder {
    clients: usize,
    stop: CancellationToken,
}

impl ClientTopics {
    /// The clients a message on `topic` reaches through `pattern`: those subscribed to it for which it is the
    /// first matching pattern (so a client with overlapping patterns gets the message once).
    fn audience(&self, pattern: &str, topic: &str) -> Vec<ClientId> {
        self.by_client
            .iter()
            .filter(|(_, patterns)| {
                patterns
                    .iter()
                    .find(|(_, parsed)| parsed.matches(topic))
                    .is_some_and(|(first, _)| first == pattern)
            })
            .map(|(client, _)| *client)
            .collect()
    }
}

impl NodeBridge {
    /// Starts forwarding between `node` and `bridge`, answering the `requests` the bridge hands back.
    /// `own_patterns` are the node's own subscriptions, kept when no client wants them any more.
    pub fn start(
        node: Arc<Node>,
        iplog: Option<IpLog>,
        bridge: Bridge,
        requests: mpsc::Receiver<ToNode>,
        own_patterns: BTreeSet<String>,
    ) -> NodeBridge {
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let context = Arc::new(Context {
            node,
            iplog,
            bridge,
            own_patterns,
            topics: Mutex::new(ClientTopics::default()),
            stat_watchers: Mutex::new(BTreeSet::new()),
            tasks: tasks.clone(),
            shutdown: shutdown.clone(),
        });
        tasks.spawn(forward_events(context.clone()));
        tasks.spawn(forward_stats(context.clone()));
        if let Some(log) = &context.iplog {
            tasks.spawn(forward_ip_changes(context.clone(), log.changes()));
        }
        tasks.spawn(answer_requests(context, requests));
        NodeBridge { shutdown, tasks }
    }

    /// Stops every forwarding task and waits for them (then the node may be shut down).
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn forward_events(context: Arc<Context>) {
    let mut events = context.node.events();
    loop {
        let event = tokio::select! {
            _ = context.shutdown.cancelled() => return,
            event = events.next() => match event {
                Some(event) => event,
                None => return,
            },
        };
        match event {
            // Topic messages come through the per-pattern subscriptions, to their clients only.
            NodeEvent::Message(ref message) if message.topic.is_some() => {}
            NodeEvent::Missed { .. } => {}
            NodeEvent::Lagged { missed } => {
                tracing::warn!(missed, "the bridge missed node events");
                let event = BridgeEvent::NodeError {
                    context: "bridge".into(),
                    message: format!("the bridge missed {missed} node events (it fell behind)"),
                };
                context.bridge.emit(&Audience::All, &event);
            }
            event => context
                .bridge
                .emit(&Audience::All, &event_form::node_event(&event)),
        }
    }
}

async fn forward_ip_changes(
    context: Arc<Context>,
    mut changes: broadcast::Receiver<herald_core::iplog::IpChange>,
) {
    loop {
        let change = tokio::select! {
            _ = context.shutdown.cancelled() => return,
            change = changes.recv() => change,
        };
        match change {
            Ok(change) => context
                .bridge
                .emit(&Audience::All, &BridgeEvent::IpChanged(change)),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the bridge missed IP changes");
                let event = BridgeEvent::NodeError {
                    context: "bridge".into(),
                    message: format!(
                        "the bridge missed {missed} IP changes (it fell behind); query the history"
                    ),
                };
                context.bridge.emit(&Audience::All, &event);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

async fn forward_stats(context: Arc<Context>) {
    let mut tick = tokio::time::interval(STATS_PUSH_EVERY);
    let checks_per_broadcast = (STATS_EVERY.as_millis() / STATS_PUSH_EVERY.as_millis()).max(1);
    let mut ticks = 0u128;
    let mut sent = None;
    loop {
        tokio::select! {
            _ = context.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if context.bridge.clients() == 0 {
            continue;
        }
        let watchers: Vec<ClientId> = context
            .stat_watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect();
        if !watchers.is_empty() {
            let mut pushed = stats(&context);
            pushed.at_ms = crate::clock::unix_ms();
            pushed.links = context.node.links();
            context
                .bridge
                .emit(&Audience::Clients(watchers), &BridgeEvent::Stats(pushed));
        }
        ticks += 1;
        if !ticks.is_multiple_of(checks_per_broadcast) {
            continue;
        }
        let stats = stats(&context);
        let trouble: BTreeMap<String, u64> = stats
            .counters
            .iter()
            .filter(|(name, _)| is_trouble_counter(name))
            .map(|(name, value)| (name.clone(), *value))
            .collect();
        if sent.as_ref() != Some(&trouble) {
            context
                .bridge
                .emit(&Audience::All, &BridgeEvent::Stats(stats));
            sent = Some(trouble);
        }
    }
}

/// Every counter: the node's, the IP log's and the bridge's.
fn stats(context: &Context) -> Stats {
    let mut stats = node_stats(context);
    stats.counters.extend(context.bridge.stats().counters);
    stats
}

/// The node's and the IP log's counters (the bridge adds its own to `/metrics`).
fn node_stats(context: &Context) -> Stats {
    let mut stats = context.node.stats();
    if let Some(log) = &context.iplog {
        stats.counters.extend(log.stats().counters);
    }
    stats
}

async fn answer_requests(context: Arc<Context>, mut requests: mpsc::Receiver<ToNode>) {
    loop {
        let request = tokio::select! {
            _ = context.shutdown.cancelled() => return,
            request = requests.recv() => match request {
                Some(request) => request,
                None => return,
            },
        };
        match request {
            ToNode::Snapshot { client, reply } => {
                let _ = reply.send(snapshot(&context, client));
            }
            ToNode::Stats { reply } => {
                let _ = reply.send(node_stats(&context));
            }
            ToNode::ClientGone { client } => forget_client(&context, client),
            ToNode::Command {
                client,
                command,
                reply,
            } => {
                // Each command in its own task: a publish waiting for room (the `block` policy) or a history
                // query does not hold up other clients. A client has one command in flight at a time.
                let command = run_command(context.clone(), client, command, reply);
                let shutdown = context.shutdown.clone();
                context.tasks.spawn(async move {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = command => {}
                    }
                });
            }
        }
    }
}

/// A new client's snapshot, assembled here and only here: the node, its live peers, the recent events the
/// bridge kept, and the client's subscriptions. A client starts subscribed to the node's own patterns (those
/// it was started with, `herald node --subscribe`), so it sees their messages and may drop them for itself;
/// patterns the node holds only for other clients are theirs, not this one's.
fn snapshot(context: &Arc<Context>, client: ClientId) -> Snapshot {
    let subscriptions = context
        .own_patterns
        .iter()
        .filter(|topic| subscribe(context, client, (*topic).clone()).is_ok())
        .cloned()
        .collect();
    Snapshot {
        node: context.node.info(),
        peers: context.node.peers(),
        subscriptions,
        recent: context.bridge.recent(),
    }
}

async fn run_command(
    context: Arc<Context>,
    client: ClientId,
    command: BridgeCommand,
    reply: Responder,
) {
    let result = match command {
        BridgeCommand::Subscribe { topic } => subscribe(&context, client, topic),
        BridgeCommand::Unsubscribe { topic } => {
            unsubscribe(&context, client, &topic);
            Ok(CommandOk::Unsubscribed { topic })
        }
        BridgeCommand::Publish { topic, payload } => {
            match context.node.publish(&topic, payload).await {
                Ok(subscribers) => Ok(CommandOk::Published {
                    topic,
                    subscribers: subscribers as u32,
                }),
                Err(err) => Err(bad_request(err)),
            }
        }
        BridgeCommand::Send { targets, payload } => {
            let outcomes = context.node.send(targets, payload).await;
            let (mut delivered, mut unknown, mut failed) =
                (Vec::new(), Vec::new(), BTreeMap::new());
            for (name, outcome) in outcomes {
                match outcome {
                    SendOutcome::Queued => delivered.push(name),
                    SendOutcome::UnknownPeer => unknown.push(name),
                    SendOutcome::NotQueued(reason) => {
                        failed.insert(name, reason);
                    }
                }
            }
            Ok(CommandOk::Sent {
                delivered,
                unknown,
                failed,
            })
        }
        BridgeCommand::Ask {
            targets,
            question,
            timeout_ms,
        } => {
            let timeout = Duration::from_millis(timeout_ms).min(MAX_ASK_TIMEOUT);
            match context.node.start_ask(targets, question, timeout).await {
                Ok(ask) => {
                    let question_id = ask.id();
                    // The reply first, so the client knows the id before any answer arrives.
                    reply
                        .send(CommandResult::Ok(CommandOk::Asked { question_id }))
                        .await;
                    forward_answers(&context, client, question_id, ask).await;
                    return;
                }
                Err(err) => Err(CommandError::Unavailable {
                    message: err.to_string(),
                }),
            }
        }
        BridgeCommand::History(query) => history(&context, query).await,
        BridgeCommand::Peers => Ok(CommandOk::Peers {
            peers: context.node.peers(),
        }),
        BridgeCommand::Stats => Ok(CommandOk::Stats(stats(&context))),
        BridgeCommand::WatchStats { on } => {
            let mut watchers = context
                .stat_watchers
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if on {
                watchers.insert(client);
            } else {
                watchers.remove(&client);
            }
            drop(watchers);
            Ok(CommandOk::Stats(stats(&context)))
        }
    };
    let result = match result {
        Ok(ok) => CommandResult::Ok(ok),
        Err(error) => CommandResult::Error(error),
    };
    reply.send(result).await;
}

async fn forward_answers(
    context: &Context,
    client: ClientId,
    question_id: u64,
    mut ask: crate::Ask,
) {
    let audience = Audience::Client(client);
    while let Some(progress) = ask.next().await {
        let event = event_form::ask_progress(question_id, progress);
        context.bridge.emit(&audience, &event);
    }
}

async fn history(context: &Context, mut query: HistoryQuery) -> Result<CommandOk, CommandError> {
    let Some(log) = &context.iplog else {
        return Err(CommandError::Unavailable {
            message: "this node keeps no IP log".into(),
        });
    };
    query.limit = query.limit.clamp(1, MAX_HISTORY_PAGE);
    log.history(query)
        .await
        .map(CommandOk::History)
        .map_err(|err| CommandError::Internal {
            message: err.to_string(),
        })
}

fn bad_request(err: impl std::fmt::Display) -> CommandError {
    CommandError::BadRequest {
        message: err.to_string(),
    }
}

fn subscribe(
    context: &Arc<Context>,
    client: ClientId,
    topic: String,
) -> Result<CommandOk, CommandError> {
    let pattern = TopicPattern::parse(&topic).map_err(bad_request)?;
    let mut topics = context.topics.lock().unwrap_or_else(|p| p.into_inner());
    let patterns = topics.by_client.entry(client).or_default();
    if patterns.insert(topic.clone(), pattern).is_some() {
        return Ok(CommandOk::Subscribed { topic });
    }
    if let Some(forwarder) = topics.forwarders.get_mut(&topic) {
        forwarder.clients += 1;
        return Ok(CommandOk::Subscribed { topic });
    }
    let subscription = match context.node.subscription(&topic) {
        Ok(subscription) => subscription,
        Err(err) => {
            if let Some(patterns) = topics.by_client.get_mut(&client) {
                patterns.remove(&topic);
            }
            return Err(bad_request(err));
        }
    };
    let stop = context.shutdown.child_token();
    topics.forwarders.insert(
        topic.clone(),
        Forwarder {
            clients: 1,
            stop: stop.clone(),
        },
    );
    context.tasks.spawn(forward_topic(
        context.clone(),
        topic.clone(),
        subscription,
        stop,
    ));
    Ok(CommandOk::Subscribed { topic })
}

async fn forward_topic(
    context: Arc<Context>,
    pattern: String,
    mut subscription: crate::Subscription,
    stop: CancellationToken,
) {
    loop {
        let delivery = tokio::select! {
            _ = stop.cancelled() => return,
            delivery = subscription.next() => match delivery {
                Some(delivery) => delivery,
                None => return,
            },
        };
        let topic = match &delivery {
            Delivery::Message(message) => message.topic.as_deref().unwrap_or_default().to_owned(),
            Delivery::Missed { topic, .. } => topic.clone(),
        };
        let clients = context
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .audience(&pattern, &topic);
        if clients.is_empty() {
            continue;
        }
        let event = event_form::delivery(delivery);
        context.bridge.emit(&Audience::Clients(clients), &event);
    }
}

fn unsubscribe(context: &Context, client: ClientId, topic: &str) {
    let mut topics = context.topics.lock().unwrap_or_else(|p| p.into_inner());
    let had = topics
        .by_client
        .get_mut(&client)
        .is_some_and(|patterns| patterns.remove(topic).is_some());
    if had {
        release(context, &mut topics, topic);
    }
}

fn forget_client(context: &Context, client: ClientId) {
    context
        .stat_watchers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&client);
    let mut topics = context.topics.lock().unwrap_or_else(|p| p.into_inner());
    let patterns: BTreeSet<String> = topics
        .by_client
        .remove(&client)
        .map(|patterns| patterns.into_keys().collect())
        .unwrap_or_default();
    for topic in patterns {
        release(context, &mut topics, &topic);
    }
}

/// One client less on `topic`: the last one stops its forwarder and the node's subscription (unless the node
/// subscribed to it for itself, e.g. `herald node --subscribe`).
fn release(context: &Context, topics: &mut ClientTopics, topic: &str) {
    let Some(forwarder) = topics.forwarders.get_mut(topic) else {
        return;
    };
    forwarder.clients -= 1;
    if forwarder.clients > 0 {
        return;
    }
    if let Some(forwarder) = topics.forwarders.remove(topic) {
        forwarder.stop.cancel();
    }
    if !context.own_patterns.contains(topic) {
        let _ = context.node.unsubscribe(topic);
    }
}
