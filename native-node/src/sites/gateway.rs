//! The site gateway task: it owns the NATS clients and carries, both ways, what crosses between its LAN and the
//! other sites (see the module doc of [`crate::sites`] and the subject contract in [`super::subjects`]). Topic
//! messages travel on one connection, the rest on another ([`connection::Purpose`]), so that a flood of
//! topic messages never holds up a peer list, a direct message or an answer.
//!
//! One task runs a `select!` over: both connections' notices (resync on connect), the node's peer events (the
//! site's peer list goes out on a change, at most once per [`super::pacing::PEERS_GAP`]), a heartbeat (the list goes out again; silent sites expire), what
//! NATS subscriptions bring in, LAN messages to export, and direct messages for other sites. Each NATS
//! subscription and each LAN subscription is forwarded by a small task into the gateway's bounded queues
//! (when full, the forwarder waits: NATS then counts a slow consumer, a LAN publisher's policy applies).
//!
//! No loops and no duplicates: each client is connected with `no_echo` (it never gets its own messages back;
//! a topic's messages go out and come in on the same connection),
//! messages the gateway publishes on its LAN are not exported again (they are its own), a site's peer list
//! holds its own LAN's peers only, and the patterns subscribed on either side are reduced so that no two
//! overlap ([`super::subjects::minimal_patterns`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::Client;
use herald_core::bridge::PeerInfo;
use herald_core::{AskOutcome, NoAnswer, NodeId, Payload, PeerKind};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::carry::{self, Carrier};
use super::connection::{self, Notice, Purpose};
use super::endpoint::{sender_headers, sender_of, Outgoing, RemoteEndpoint, H_TIMEOUT};
use super::forward::{confirm, export_from, forward_nats, import_from, Kind};
use super::held::{purpose_of, Held};
use super::pacing::Pacing;
use super::remote::{RemoteChange, RemoteError, RemoteSites, SiteSnapshot};
use super::subjects::{self, H_OUTCOME};
use super::{SiteConfig, SiteError};
use crate::events::NodeEvent;
use crate::proxies::ProxiedPeer;
use crate::stats::bump;
use crate::topics::TopicPattern;
use crate::Node;

/// Capacity of each queue into the gateway task (from NATS, from the LAN, direct messages out).
pub const GATEWAY_QUEUE: usize = 1024;

/// Topic patterns a gateway carries each way (subscriptions on NATS for its LAN, on its LAN for other
/// sites); beyond it patterns are left out and counted in `nats.remote_refused`.
pub const MAX_PATTERNS: usize = 1024;

/// Questions from other sites answered at once; more are answered `failed: busy`.
pub const MAX_REMOTE_ASKS: usize = 64;

/// How long a question from another site waits when its asker gave no timeout.
const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(10);
/// Capacity of the queue of "a subscription is in place" notices (when full, a peer list is due anyway).
const SUBSCRIBED_NOTICES: usize = 16;

/// A running site gateway. See the module doc.
pub struct SiteGateway {
    shutdown: CancellationToken,
    /// `None` once [`SiteGateway::stopped`] saw it end.
    task: Option<JoinHandle<Result<(), SiteError>>>,
}

impl SiteGateway {
    /// Checks `config`, connects to NATS (in the background: a site works on its own until NATS is there)
    /// and starts carrying for `node`.
    pub async fn start(node: Arc<Node>, config: SiteConfig) -> Result<SiteGateway, SiteError> {
        subjects::check_site(&config.site)?;
        if config.urls.is_empty() {
            return Err(SiteError::NoServer);
        }
        for pattern in config.export.iter().chain(&config.import) {
            TopicPattern::parse(pattern).map_err(|err| SiteError::Pattern {
                pattern: pattern.clone(),
                reason: err.to_string(),
            })?;
        }
        let (client, notices) = connection::connect(&node, &config, Purpose::Control).await?;
        let (topics_client, topic_notices) =
            connection::connect(&node, &config, Purpose::Topics).await?;
        let subscribe = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject)
                    .await
                    .map_err(|err| SiteError::Connect(err.to_string()))
            }
        };
        let (direct, ask) = subjects::inbox_subjects(&config.site);
        let fixed = [
            (Kind::Peers, subscribe(subjects::all_peers_subject()).await?),
            (Kind::Sync, subscribe(subjects::sync_subject()).await?),
            (Kind::Direct, subscribe(direct).await?),
            (Kind::Ask, subscribe(ask).await?),
        ];
        let shutdown = CancellationToken::new();
        let (nats_tx, nats_rx) = mpsc::channel(GATEWAY_QUEUE);
        let (lan_tx, lan_rx) = mpsc::channel(GATEWAY_QUEUE);
        let (out_tx, out_rx) = mpsc::channel(GATEWAY_QUEUE);
        let (subscribed_tx, subscribed_rx) = mpsc::channel(SUBSCRIBED_NOTICES);
        let tasks = TaskTracker::new();
        for (kind, subscriber) in fixed {
            tasks.spawn(forward_nats(
                kind,
                subscriber,
                nats_tx.clone(),
                shutdown.child_token(),
            ));
        }
        let started_ms = crate::clock::unix_ms();
        let carrier = Arc::new(Carrier::new(
            node.clone(),
            topics_client,
            &config.site,
            &config.export,
            &config.import,
        ));
        let gateway = Gateway {
            carrier,
            remote: RemoteSites::new(&config.site, node.id(), started_ms),
            held: Held::new(config.backlog),
            events: node.events(),
            node,
            client,
            config,
            started_ms,
            lan_wants: BTreeMap::new(),
            subscribed_tx,
            others_want: BTreeMap::new(),
            lan_tx,
            out_tx,
            ask_slots: Arc::new(Semaphore::new(MAX_REMOTE_ASKS)),
            pacing: Pacing::default(),
            tasks,
            shutdown: shutdown.clone(),
        };
        let task = tokio::spawn(gateway.run(
            [notices, topic_notices],
            nats_rx,
            lan_rx,
            out_rx,
            subscribed_rx,
        ));
        Ok(SiteGateway {
            shutdown,
            task: Some(task),
        })
    }

    /// Resolves when the gateway stops on its own: with the reason (another gateway serves the site).
    /// Pending forever once it has resolved.
    pub async fn stopped(&mut self) -> Result<(), SiteError> {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = task.await;
        self.task = None;
        match ended {
            Ok(result) => result,
            Err(err) => Err(SiteError::Connect(format!(
                "the gateway task failed: {err}"
            ))),
        }
    }

    /// Stops carrying: other sites see this site's peers `lost`; this LAN's proxies of theirs expire.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

struct Gateway {
    node: Arc<Node>,
    /// The control connection (peer lists, resync requests, direct messages, questions); topic messages
    /// travel on the carrier's.
    client: Client,
    config: SiteConfig,
    started_ms: u64,
    remote: RemoteSites,
    events: crate::node::Events,
    /// NATS subscriptions for the patterns this LAN's peers want, each forwarded by a task.
    lan_wants: BTreeMap<String, LanWant>,
    /// Told by a subscription's task once NATS has it in place (the peer list may then announce it).
    subscribed_tx: mpsc::Sender<()>,
    /// LAN subscriptions for the patterns peers at other sites want, each forwarded by a task.
    others_want: BTreeMap<String, CancellationToken>,
    lan_tx: mpsc::Sender<Outgoing>,
    carrier: Arc<Carrier>,
    out_tx: mpsc::Sender<Outgoing>,
    /// Messages held while their connection is down, per connection (each bounded by `config.backlog`).
    held: Held,
    ask_slots: Arc<Semaphore>,
    /// When the peer list may go out next for a LAN change.
    pacing: Pacing,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

/// A NATS subscription for a pattern this LAN's peers want.
struct LanWant {
    /// Ends its task (and the subscription).
    token: CancellationToken,
    /// Set once the server has the subscription: only then does the site's peer list announce the pattern,
    /// so another site never sends what this one is not yet subscribed to.
    ready: Arc<AtomicBool>,
}

impl Gateway {
    async fn run(
        mut self,
        [mut notices, mut topic_notices]: [mpsc::Receiver<Notice>; 2],
        mut nats_rx: mpsc::Receiver<(Kind, async_nats::Message)>,
        mut lan_rx: mpsc::Receiver<Outgoing>,
        mut out_rx: mpsc::Receiver<Outgoing>,
        mut subscribed_rx: mpsc::Receiver<()>,
    ) -> Result<(), SiteError> {
        let mut tick = tokio::time::interval(self.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            let peers_due = self.pacing.due();
            tokio::select! {
                _ = self.shutdown.cancelled() => break Ok(()),
                _ = async {
                    match peers_due {
                        Some(due) => tokio::time::sleep_until(due.into()).await,
                        None => std::future::pending().await,
                    }
                } => self.publish_peers().await,
                Some(notice) = notices.recv() => {
                    if notice == Notice::Connected {
                        self.resync().await;
                    }
                }
                Some(notice) = topic_notices.recv() => {
                    if notice == Notice::Connected {
                        self.flush_held(Purpose::Topics).await;
                    }
                }
                Some(()) = subscribed_rx.recv() => {
                    if self.pacing.changed(Instant::now().into_std()) {
                        self.publish_peers().await;
                    }
                }
                event = self.events.next() => match event {
                    Some(NodeEvent::Peer(event)) if event.peer.site.is_none() => self.lan_changed().await,
                    Some(NodeEvent::Lagged { .. }) => self.lan_changed().await,
                    Some(_) => {}
                    None => break Ok(()),
                },
                _ = tick.tick() => {
                    self.expire();
                    self.publish_peers().await;
                    self.refresh_subscriptions();
                }
                Some((kind, message)) = nats_rx.recv() => {
                    if let Err(err) = self.incoming(kind, message).await {
                        break Err(err);
                    }
                }
                Some(message) = lan_rx.recv() => self.publish(message).await,
                Some(message) = out_rx.recv() => self.publish(message).await,
            }
        };
        self.stop().await;
        result
    }

    /// Stops every forwarder, drops the proxies of other sites' peers (they expire on the LAN) and flushes.
    async fn stop(&mut self) {
        self.shutdown.cancel();
        for (pattern, token) in std::mem::take(&mut self.others_want) {
            token.cancel();
            let _ = self.node.unsubscribe(&pattern);
        }
        self.tasks.close();
        self.tasks.wait().await;
        for change in self.remote.forget_all() {
            if let RemoteChange::Lost(peer) = change {
                self.node.forget_proxied(peer.node_id);
            }
        }
        let flushed = futures::future::join(self.client.flush(), self.carrier.client.flush());
        let _ = tokio::time::timeout(Duration::from_secs(1), flushed).await;
    }

    /// The client of `purpose`'s connection.
    fn client(&self, purpose: Purpose) -> &Client {
        match purpose {
            Purpose::Topics => &self.carrier.client,
            Purpose::Control => &self.client,
        }
    }

    /// `purpose`'s connection is up.
    fn connected(&self, purpose: Purpose) -> bool {
        self.client(purpose).connection_state() == State::Connected
    }

    /// On every (re)connect of the control connection: the held direct messages go out, this site's peer
    /// list too, and every other site is asked for its list (joins, leaves and moves that happened meanwhile
    /// then come out as events). (The topics connection's reconnect sends its own held messages.)
    async fn resync(&mut self) {
        self.flush_held(Purpose::Control).await;
        self.publish_peers().await;
        let headers = sender_headers(&self.config.site, self.node.name(), Some(self.node.id()));
        self.publish_now(Outgoing {
            subject: subjects::sync_subject().into(),
            headers,
            payload: bytes::Bytes::new(),
        })
        .await;
    }

    /// This LAN's peers changed: subscriptions first, then the list (now, or coalesced with the next changes:
    /// see [`Pacing`]); a new subscription's pattern joins the list once NATS has it ([`LanWant::ready`]).
    async fn lan_changed(&mut self) {
        self.refresh_subscriptions();
        if self.pacing.changed(Instant::now().into_std()) {
            self.publish_peers().await;
        }
    }

    /// This site's peer list: its own LAN's live peers (not one-shot commands) and the gateway itself.
    fn snapshot(&self) -> SiteSnapshot {
        let mut peers: Vec<PeerInfo> = self
            .node
            .peers()
            .into_iter()
            .filter(|p| p.site.is_none() && p.kind != PeerKind::Cli)
            .collect();
        // Only what this gateway is subscribed to on NATS: announced before, it would be sent and dropped.
        let ready: Vec<&str> = self
            .lan_wants
            .iter()
            .filter(|(_, want)| want.ready.load(Ordering::Acquire))
            .map(|(pattern, _)| pattern.as_str())
            .collect();
        for peer in &mut peers {
            peer.topics.retain(|topic| {
                ready
                    .iter()
                    .any(|pattern| *pattern == topic || subjects::covers(pattern, topic))
            });
        }
        let mut me = self.node.info();
        me.topics.clear(); // what the gateway subscribes to on the LAN is others' interest, not its own
        peers.push(me);
        SiteSnapshot {
            site: self.config.site.clone(),
            gateway: self.node.id(),
            started_ms: self.started_ms,
            heartbeat_ms: self.config.heartbeat.as_millis().min(u32::MAX as u128) as u32,
            peers,
        }
    }

    async fn publish_peers(&mut self) {
        self.pacing.sent(Instant::now().into_std());
        if !self.connected(Purpose::Control) {
            return; // a peer list is state, not a message: the next one after the reconnect says it all
        }
        let body = match serde_json::to_vec(&self.snapshot()) {
            Ok(body) => body,
            Err(err) => {
                tracing::warn!(%err, "cannot encode the site's peer list");
                return;
            }
        };
        let headers = sender_headers(&self.config.site, self.node.name(), Some(self.node.id()));
        self.publish_now(Outgoing {
            subject: subjects::peers_subject(&self.config.site).into(),
            headers,
            payload: body.into(),
        })
        .await;
    }

    fn expire(&mut self) {
        let changes = self.remote.expire(Instant::now().into_std());
        self.apply_changes(changes);
    }

    /// At most [`MAX_PATTERNS`] of `patterns` (the first, in order); the rest are counted in
    /// `nats.remote_refused` and not carried.
    fn bounded(&self, mut patterns: Vec<String>) -> Vec<String> {
        if patterns.len() > MAX_PATTERNS {
            let left_out = (patterns.len() - MAX_PATTERNS) as u64;
            patterns.truncate(MAX_PATTERNS);
            self.node
                .site_counters()
                .remote_refused
                .fetch_add(left_out, Ordering::Relaxed);
            tracing::warn!(
                left_out,
                "more topic patterns than a gateway carries; some left out"
            );
        }
        patterns
    }

    /// Subscribes (on NATS) to what this LAN's peers want and (on the LAN) to what other sites' peers want,
    /// and drops subscriptions nobody wants any more.
    fn refresh_subscriptions(&mut self) {
        let lan_topics: BTreeSet<String> = self
            .node
            .peers()
            .into_iter()
            .filter(|p| p.site.is_none())
            .flat_map(|p| p.topics)
            .collect();
        let wanted = self.bounded(subjects::minimal_patterns(
            lan_topics.iter().map(String::as_str),
        ));
        self.lan_wants.retain(|pattern, want| {
            let keep = wanted.contains(pattern);
            if !keep {
                want.token.cancel();
            }
            keep
        });
        for pattern in wanted {
            if self.lan_wants.contains_key(&pattern) {
                continue;
            }
            let Ok(subject) = subjects::pattern_subject(&pattern) else {
                bump(&self.node.site_counters().export_refused);
                tracing::debug!(%pattern, "a LAN pattern that is not a NATS subject: not imported");
                continue;
            };
            let token = self.shutdown.child_token();
            let ready = Arc::new(AtomicBool::new(false));
            self.lan_wants.insert(
                pattern,
                LanWant {
                    token: token.clone(),
                    ready: ready.clone(),
                },
            );
            let carrier = self.carrier.clone();
            let subscribed = self.subscribed_tx.clone();
            let probe = subjects::probe_subject(&self.config.site);
            self.tasks.spawn(async move {
                let subscriber = match carrier.client.subscribe(subject.clone()).await {
                    Ok(subscriber) => subscriber,
                    Err(err) => {
                        tracing::warn!(%subject, %err, "cannot subscribe on NATS");
                        return;
                    }
                };
                confirm(&carrier.client, probe).await;
                ready.store(true, Ordering::Release);
                let _ = subscribed.try_send(()); // full: a list is already due
                import_from(subscriber, carrier, token).await
            });
        }
        let interest = self.remote.interest();
        let wanted = self.bounded(subjects::minimal_patterns(
            interest.iter().map(String::as_str),
        ));
        let mut dropped = Vec::new();
        self.others_want.retain(|pattern, token| {
            let keep = wanted.contains(pattern);
            if !keep {
                token.cancel();
                dropped.push(pattern.clone());
            }
            keep
        });
        for pattern in dropped {
            let _ = self.node.unsubscribe(&pattern);
        }
        for pattern in wanted {
            if self.others_want.contains_key(&pattern) {
                continue;
            }
            let stream = match self.node.subscription(&pattern) {
                Ok(stream) => stream,
                Err(err) => {
                    bump(&self.node.site_counters().bad_input);
                    tracing::debug!(%pattern, %err, "another site wants a pattern that is not one");
                    continue;
                }
            };
            let token = self.shutdown.child_token();
            self.others_want.insert(pattern, token.clone());
            let tx = self.lan_tx.clone();
            self.tasks
                .spawn(export_from(stream, self.carrier.clone(), tx, token));
        }
    }

    /// Publishes now, or holds the message while its connection is down (the oldest is dropped when full).
    async fn publish(&mut self, message: Outgoing) {
        let purpose = purpose_of(&message.subject);
        if self.held.is_empty(purpose) && self.connected(purpose) {
            self.publish_now(message).await;
            return;
        }
        if self.held.push(purpose, message) {
            bump(&self.node.site_counters().backlog_dropped);
            tracing::debug!("NATS unreachable: the oldest held message dropped");
        }
        if purpose == Purpose::Topics {
            self.carrier.holding.store(true, Ordering::Release);
        }
        self.flush_held(purpose).await;
    }

    /// Sends every message held for `purpose`'s connection, oldest first, if it is up; new exports go straight
    /// out again afterwards.
    async fn flush_held(&mut self, purpose: Purpose) {
        if !self.connected(purpose) {
            return;
        }
        while let Some(message) = self.held.pop(purpose) {
            self.publish_now(message).await;
        }
        if purpose == Purpose::Topics {
            self.carrier.holding.store(false, Ordering::Release);
        }
    }

    /// Publishes on the connection for `message`'s subject: a topic's, or the control connection.
    async fn publish_now(&mut self, message: Outgoing) {
        let client = self.client(purpose_of(&message.subject));
        carry::publish(&self.node, client, message).await;
    }

    async fn incoming(
        &mut self,
        kind: Kind,
        message: async_nats::Message,
    ) -> Result<(), SiteError> {
        bump(&self.node.site_counters().received);
        match kind {
            Kind::Peers => return self.peer_list(message),
            Kind::Sync => {
                if sender_of(&message).map(|s| s.site) != Some(self.config.site.as_str()) {
                    self.publish_peers().await;
                }
            }
            Kind::Direct => self.direct(message).await,
            Kind::Ask => self.ask(message),
        }
        Ok(())
    }

    fn bad_input(&self, subject: &str, what: &str) {
        bump(&self.node.site_counters().bad_input);
        tracing::debug!(%subject, what, "garbage on a Herald subject skipped");
    }

    fn peer_list(&mut self, message: async_nats::Message) -> Result<(), SiteError> {
        let Some(site) = subjects::subject_site(&message.subject) else {
            self.bad_input(&message.subject, "not a site's peer list subject");
            return Ok(());
        };
        let snapshot: SiteSnapshot = match serde_json::from_slice(&message.payload) {
            Ok(snapshot) => snapshot,
            Err(_) => {
                self.bad_input(&message.subject, "undecodable peer list");
                return Ok(());
            }
        };
        if snapshot.site != site {
            self.bad_input(&message.subject, "a peer list for another site");
            return Ok(());
        }
        let refused = self.remote.refused;
        let result = self.remote.apply(snapshot, Instant::now().into_std());
        let counters = self.node.site_counters();
        counters.remote_refused.fetch_add(
            self.remote.refused - refused,
            std::sync::atomic::Ordering::Relaxed,
        );
        match result {
            Ok(changes) => {
                let joins = changes.iter().any(|c| matches!(c, RemoteChange::Joined(_)));
                let interest_may_change = !changes.is_empty();
                self.apply_changes(changes);
                if joins || interest_may_change {
                    self.refresh_subscriptions();
                }
                Ok(())
            }
            Err(RemoteError::Own) => Ok(()),
            Err(err @ RemoteError::LaterGateway { .. }) => {
                bump(&counters.second_gateway);
                tracing::warn!(%err, "a second gateway for this site");
                Ok(())
            }
            Err(err @ RemoteError::SecondGateway { .. }) => {
                bump(&counters.second_gateway);
                tracing::error!(%err, "standing down");
                Err(SiteError::SecondGateway(err.to_string()))
            }
        }
    }

    /// Other sites' peers become (or stop being) proxied peers of this LAN, under their own node ids.
    fn apply_changes(&mut self, changes: Vec<RemoteChange>) {
        let counters = self.node.site_counters();
        for change in changes {
            match change {
                RemoteChange::Joined(peer) | RemoteChange::Changed(peer) => self.proxy(peer),
                RemoteChange::Left(peer) => self.node.unproxy(peer.node_id),
                RemoteChange::Lost(peer) => {
                    bump(&counters.remote_lost);
                    self.node.forget_proxied(peer.node_id);
                }
            }
        }
    }

    fn proxy(&self, peer: PeerInfo) {
        let site = peer.site.clone().unwrap_or_default();
        let endpoint = peer.tcp.is_some().then(|| {
            Arc::new(RemoteEndpoint {
                node: Arc::downgrade(&self.node),
                client: self.client.clone(),
                own_site: self.config.site.clone(),
                site: site.clone(),
                id: peer.node_id,
                outgoing: self.out_tx.clone(),
            }) as Arc<dyn crate::proxies::ProxyEndpoint>
        });
        let proxied = ProxiedPeer {
            name: peer.name.clone(),
            kind: peer.kind,
            addr: peer.addr,
            services: peer
                .services
                .iter()
                .map(|(name, addr)| (name.clone(), addr.port()))
                .collect(),
            site: Some(site),
            txt: peer.txt.clone(),
        };
        let new = self.remote_is_new(&peer.node_id);
        match self.node.proxy_as(peer.node_id, proxied, endpoint) {
            Ok(()) if new => bump(&self.node.site_counters().remote_joined),
            Ok(()) => {}
            Err(err) => {
                bump(&self.node.site_counters().remote_refused);
                tracing::warn!(peer = %peer.address(), %err, "a peer of another site not proxied");
            }
        }
    }

    fn remote_is_new(&self, id: &NodeId) -> bool {
        self.node.peers().iter().all(|p| p.node_id != *id)
    }

    /// The local peer a direct message or question from another site is for: its name, or `None` for the
    /// gateway itself.
    fn local_target(&self, id: NodeId) -> Result<Option<String>, ()> {
        if id == self.node.id() {
            return Ok(None);
        }
        self.node
            .peers()
            .into_iter()
            .find(|p| p.node_id == id && p.site.is_none())
            .map(|p| Some(p.name))
            .ok_or(())
    }

    /// The sender of a message from another site: its node id (if that site told it) and `name@site`.
    fn sender(&self, message: &async_nats::Message) -> (NodeId, String) {
        let said = sender_of(message);
        let name = said.map_or("nats", |s| s.name);
        let address = herald_core::bridge::peer_address(name, said.map(|s| s.site));
        let id = said
            .and_then(|s| s.id)
            .or_else(|| self.node.peer(&address).map(|p| p.node_id))
            .unwrap_or(NodeId([0; 16]));
        (id, address)
    }

    async fn direct(&mut self, message: async_nats::Message) {
        let Some(id) = subjects::subject_node(&message.subject) else {
            return self.bad_input(&message.subject, "no node id");
        };
        let payload = Payload(message.payload.to_vec());
        match self.local_target(id) {
            Ok(None) => {
                let (from, name) = self.sender(&message);
                self.node.receive_from_proxied(from, &name, payload);
            }
            Ok(Some(name)) => {
                let outcome = self.node.send(name.clone(), payload).await;
                if !matches!(outcome.get(&name), Some(crate::SendOutcome::Queued)) {
                    bump(&self.node.site_counters().remote_failed);
                    tracing::debug!(peer = %name, ?outcome, "a direct message from another site not delivered");
                }
            }
            Err(()) => {
                bump(&self.node.site_counters().remote_failed);
                tracing::debug!(%id, "a direct message from another site for an unknown peer");
            }
        }
    }

    /// A question from another site: asked on this LAN in a task of its own, the outcome is the reply.
    fn ask(&mut self, message: async_nats::Message) {
        let Some(reply) = message.reply.clone() else {
            return self.bad_input(&message.subject, "a question without a reply subject");
        };
        let Some(id) = subjects::subject_node(&message.subject) else {
            return self.bad_input(&message.subject, "no node id");
        };
        let timeout = header(&message, H_TIMEOUT)
            .and_then(|ms| ms.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_ASK_TIMEOUT);
        // Answer a little before the asker gives up, so the outcome reaches it.
        let timeout = timeout.mul_f32(0.9);
        let target = self.local_target(id);
        let (from, from_name) = self.sender(&message);
        let node = self.node.clone();
        let client = self.client.clone();
        let payload = Payload(message.payload.to_vec());
        let slot = self.ask_slots.clone().try_acquire_owned();
        self.tasks.spawn(async move {
            let (outcome, body) = match (slot, target) {
                (Err(_), _) => ("failed", b"busy".to_vec()),
                (Ok(_), Err(())) => ("unknown_peer", Vec::new()),
                (Ok(_slot), Ok(None)) => {
                    match node
                        .answer_for_proxied(from, &from_name, payload, timeout)
                        .await
                    {
                        herald_core::frame::AnswerBody::Answered(p) => ("answered", p.0),
                        herald_core::frame::AnswerBody::Failed(reason) => {
                            ("failed", reason.into_bytes())
                        }
                        // The node's own answer handler gives an answer or a failure.
                        herald_core::frame::AnswerBody::NoAnswer(reason) => {
                            ("failed", reason.to_string().into_bytes())
                        }
                    }
                }
                (Ok(_slot), Ok(Some(name))) => {
                    let outcome = match node.ask(name.clone(), payload, timeout).await {
                        Ok(mut outcomes) => outcomes.remove(&name),
                        Err(err) => Some(AskOutcome::NoAnswer(NoAnswer::Failed(err.to_string()))),
                    };
                    match outcome {
                        Some(AskOutcome::Answered { payload, .. }) => ("answered", payload.0),
                        Some(AskOutcome::NoAnswer(NoAnswer::Timeout)) => ("timeout", Vec::new()),
                        Some(AskOutcome::NoAnswer(NoAnswer::UnknownPeer)) | None => {
                            ("unknown_peer", Vec::new())
                        }
                        Some(AskOutcome::NoAnswer(NoAnswer::PeerLeft)) => ("peer_left", Vec::new()),
                        Some(AskOutcome::NoAnswer(NoAnswer::Failed(reason))) => {
                            ("failed", reason.into_bytes())
                        }
                    }
                }
            };
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(H_OUTCOME, outcome);
            match client
                .publish_with_headers(reply, headers, body.into())
                .await
            {
                Ok(()) => bump(&node.site_counters().published),
                Err(_) => bump(&node.site_counters().publish_failed),
            }
        });
    }
}

fn header<'a>(message: &'a async_nats::Message, name: &str) -> Option<&'a str> {
    message.headers.as_ref()?.get(name).map(|v| v.as_str())
}
