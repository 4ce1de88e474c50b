//! Counters: every drop, refusal and reject is counted here (and logged where it happens), and read as
//! named values by `herald` commands, the bridge's `stats` and `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use herald_core::bridge::Stats;

/// Declares a struct of atomic counters, each with its public name.
macro_rules! counters {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* $field:ident => $key:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: AtomicU64,)*
        }

        impl $name {
            /// Every counter by its public name.
            pub fn snapshot(&self) -> Stats {
                let mut stats = Stats::default();
                $(stats.counters.insert($key.to_owned(), self.$field.load(Ordering::Relaxed));)*
                stats
            }
        }
    };
}

counters! {
    /// Discovery's counters.
    pub struct DiscoveryCounters {
        /// Beacons sent (to the group, and greetings by unicast).
        beacons_sent => "discovery.beacons_sent",
        /// Bytes of every discovery datagram sent.
        bytes_sent => "discovery.bytes_sent",
        /// Datagrams accepted.
        received => "discovery.received",
        /// Datagrams without Herald's magic (someone else's traffic on the group).
        dropped_foreign => "discovery.dropped.foreign",
        /// Truncated or malformed datagrams.
        dropped_malformed => "discovery.dropped.malformed",
        /// Datagrams over the size limit.
        dropped_oversized => "discovery.dropped.oversized",
        /// Datagrams of another protocol version.
        dropped_version => "discovery.dropped.version",
        /// Unsigned datagrams while a key is configured.
        dropped_unsigned => "discovery.dropped.unsigned",
        /// Signed datagrams (a keyed LAN's) while no key is configured.
        dropped_signed => "discovery.dropped.signed",
        /// Datagrams whose tag does not verify.
        dropped_bad_tag => "discovery.dropped.bad_tag",
        /// Signed datagrams outside the replay window.
        dropped_replay => "discovery.dropped.replay",
        /// New peers refused because the table is full.
        refused_table_full => "discovery.refused.table_full",
        /// Beacons claiming a name another live peer holds.
        refused_name_taken => "discovery.refused.name_taken",
        /// Beacons from another node claiming this node's name.
        claims_our_name => "discovery.claims_our_name",
        /// Newcomers greeted by unicast.
        greetings_sent => "discovery.greetings_sent",
        /// Greetings skipped because the per-heartbeat budget was spent (they learn at the next beacon).
        greetings_skipped => "discovery.greetings_skipped",
        /// Lookup queries answered.
        lookups_answered => "discovery.lookups_answered",
        /// Peer lists sent to newcomers (this node acting as a seed).
        peer_lists_sent => "discovery.peer_lists.sent",
        /// Peer lists accepted (from a seed, or a peer of the unicast mesh).
        peer_lists_received => "discovery.peer_lists.received",
        /// Peer lists ignored: from neither a seed nor a peer of the mesh, or on the group.
        peer_lists_ignored => "discovery.peer_lists.ignored",
        /// Unsigned peer lists refused while a key is configured (also counted in `dropped.unsigned`).
        peer_lists_unsigned => "discovery.peer_lists.unsigned",
        /// Datagrams that could not be sent (interface down, no route).
        send_errors => "discovery.send_errors",
        /// DNS-SD services registered (`--mdns`).
        mdns_announced => "discovery.mdns.announced",
        /// DNS-SD services resolved by browsing (`--mdns-browse`) and proxied.
        mdns_found => "discovery.mdns.found",
        /// DNS-SD services withdrawn or expired.
        mdns_removed => "discovery.mdns.removed",
        /// DNS-SD services not proxied: this node proxies as many as it may.
        mdns_refused => "discovery.mdns.refused",
        /// DNS-SD registrations and withdrawals the daemon refused, and browsing it ended.
        mdns_errors => "discovery.mdns.errors",
        /// TXT records of proxied peers left out of their beacons: over `MAX_TXT_BYTES` per peer.
        txt_left_out => "discovery.txt.left_out",
        /// Node events a slow reader of the event stream missed.
        events_lagged => "node.events_lagged",
    }
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

counters! {
    /// Messaging's counters.
    pub struct MessagingCounters {
        /// Messages published by this node (one per publish call).
        published => "messaging.published",
        /// Copies queued for remote subscribers.
        queued => "messaging.queued",
        /// Topic messages received from peers.
        received => "messaging.received",
        /// Messages this node published that a full local subscription stream could not take.
        local_dropped => "messaging.local_dropped",
        /// Messages peers told us they dropped for us (`Missed`).
        missed => "messaging.missed",
        /// Copies not queued: the link was closed or too slow, or its peer unreachable.
        not_queued => "messaging.not_queued",
        /// Frames still queued on a link when its peer left or was lost (discarded with the link).
        discarded_on_close => "messaging.discarded_on_close",
        /// Topic messages dropped for slow subscribers (policy drop-oldest), summed over links.
        dropped_for_slow => "messaging.dropped_for_slow",
        /// Links this node opened.
        links_opened => "links.opened",
        /// Links this node could not open.
        links_failed => "links.failed",
        /// Links closed on a read error (garbage mid-stream, oversized frame, reset).
        read_errors => "links.read_errors",
        /// Frames a peer sent that make no sense on a link (e.g. a handshake frame after the handshake).
        unexpected_frames => "links.unexpected_frames",
        /// Direct messages this node queued for peers.
        direct_sent => "messaging.direct_sent",
        /// Direct messages received from peers.
        direct_received => "messaging.direct_received",
        /// Subscribers a publisher turned away because of its per-topic bound.
        subscribers_refused => "messaging.subscribers_refused",
        /// Refusals received from publishers (this node is beyond their subscriber bound).
        refusals_received => "messaging.refusals_received",
        /// Questions this node asked.
        questions_asked => "questions.asked",
        /// Questions peers asked this node.
        questions_received => "questions.received",
        /// Questions answered `busy` because too many were being answered.
        questions_busy => "questions.busy",
        /// Answers this node sent.
        answers_sent => "questions.answers_sent",
        /// Answer handlers that failed or panicked (each also an error event).
        answers_failed => "questions.answers_failed",
        /// Answer handlers stopped at the asker's timeout.
        answers_timed_out => "questions.answers_timed_out",
        /// Answers that came too late or to no known question; dropped.
        answers_discarded => "questions.answers_discarded",
        /// Messages and questions relayed to legacy peers this node is the gateway of.
        relayed => "messaging.relayed",
        /// Relayed messages and questions that could not be handed on (unknown legacy peer, full queue, a
        /// message the old protocol cannot carry); questions get a `Failed` answer.
        relay_failed => "messaging.relay_failed",
    }
}

counters! {
    /// The IP log's counters (`herald dynip serve`, or a node with the IP log).
    pub struct IpLogCounters {
        /// Datagrams received on the DynIP port.
        received => "dynip.received",
        /// Sightings stored (reports, legacy datagrams, discovery changes).
        stored => "dynip.stored",
        /// Address changes (and new hosts) recorded.
        changes => "dynip.changes",
        /// Acknowledgements sent to reporters (each after its report's commit).
        acks_sent => "dynip.acks_sent",
        /// Refusals sent to reporters.
        refusals_sent => "dynip.refusals_sent",
        /// Transactions committed.
        commits => "dynip.commits",
        /// Datagrams that are neither a legacy hostname nor a decodable Herald report (bad magic, version,
        /// body), or a Herald message that is not a report.
        rejected_malformed => "dynip.rejected.malformed",
        /// Host names that are empty, too long, not UTF-8 or have control characters.
        rejected_bad_name => "dynip.rejected.bad_name",
        /// Unsigned datagrams (legacy ones outside the allow-list included) while a key is configured.
        rejected_unsigned => "dynip.rejected.unsigned",
        /// Signed reports whose tag does not verify.
        rejected_bad_tag => "dynip.rejected.bad_tag",
        /// Signed reports replayed, or stale (outside the freshness window).
        rejected_replay => "dynip.rejected.replay",
        /// Sightings of new hosts while the host cap is reached.
        rejected_host_cap => "dynip.rejected.host_cap",
        /// Datagrams over their source's rate, or from a new source while the source table is full.
        rejected_rate_limited => "dynip.rejected.rate_limited",
        /// Sightings dropped because the store's queue was full.
        rejected_busy => "dynip.rejected.busy",
        /// Sightings lost to a failed commit (disk full, database locked); reporters are told to retry.
        rejected_storage => "dynip.rejected.storage",
        /// Failed commits.
        store_errors => "dynip.store_errors",
        /// Replies that could not be sent.
        reply_errors => "dynip.reply_errors",
        /// Rewrites of the legacy JSON file.
        legacy_json_writes => "dynip.legacy_json.writes",
        /// Failed rewrites of the legacy JSON file.
        legacy_json_errors => "dynip.legacy_json.errors",
    }
}

counters! {
    /// The legacy gateways' counters (hein, pythonConnect, the Twisted hub).
    pub struct LegacyCounters {
        /// Twisted hub lookups answered with an address.
        hub_lookups => "legacy.hub.lookups",
        /// Twisted hub lookups of an unknown service (answered with the old miss reply).
        hub_misses => "legacy.hub.misses",
        /// Twisted hub registrations stored.
        hub_registrations => "legacy.hub.registrations",
        /// Twisted hub removals done.
        hub_removals => "legacy.hub.removals",
        /// Twisted hub datagrams refused: not ASCII, unknown request, missing fields, bad name or address,
        /// unknown service to remove, registry full.
        hub_rejected => "legacy.hub.rejected",
        /// hein receivers registered (a reconnect under the same name replaces the old connection).
        hein_receivers => "legacy.hein.receivers",
        /// hein receivers refused: no name in time, receiver limit reached.
        hein_refused => "legacy.hein.refused",
        /// hein frames queued for receivers.
        hein_frames_sent => "legacy.hein.frames_sent",
        /// hein frames dropped for a receiver whose queue was full (it reads or acknowledges too slowly).
        hein_dropped_for_slow => "legacy.hein.dropped_for_slow",
        /// Herald messages on a hein topic that a hein frame cannot carry (empty).
        hein_unsendable => "legacy.hein.unsendable",
        /// Frames received from hein transmitters and published.
        hein_frames_received => "legacy.hein.frames_received",
        /// Bad frames from hein transmitters (unknown kind, malformed, oversized, undecodable JSON).
        hein_bad_frames => "legacy.hein.bad_frames",
        /// Failed connections to hein transmitters (each retried after 0.5 s).
        hein_connect_failures => "legacy.hein.connect_failures",
        /// pythonConnect adverts received.
        pyconnect_adverts => "legacy.pyconnect.adverts",
        /// pythonConnect datagrams or frames refused (not UTF-8, malformed, too long).
        pyconnect_bad_input => "legacy.pyconnect.bad_input",
        /// pythonConnect connections made or accepted.
        pyconnect_connections => "legacy.pyconnect.connections",
        /// Messages from pythonConnect devices delivered to this node.
        pyconnect_messages_in => "legacy.pyconnect.messages_in",
        /// Questions from pythonConnect devices answered.
        pyconnect_questions_in => "legacy.pyconnect.questions_in",
        /// Messages and questions sent to pythonConnect devices.
        pyconnect_frames_out => "legacy.pyconnect.frames_out",
        /// Messages and questions for devices that the old protocol cannot carry (too long, separators).
        pyconnect_unsendable => "legacy.pyconnect.unsendable",
        /// Messages and questions for devices dropped because a device's queue was full.
        pyconnect_dropped => "legacy.pyconnect.dropped",
    }
}

counters! {
    /// A site gateway's NATS counters (all zero on a node that is not one; see `sites`).
    pub struct SiteCounters {
        /// Messages published to NATS (topic messages, direct messages, questions, peer lists).
        published => "nats.published",
        /// Messages received from NATS on Herald subjects.
        received => "nats.received",
        /// LAN messages on topics that are not valid NATS subjects (an empty token, `>`): not exported.
        export_refused => "nats.export_refused",
        /// LAN messages outside the exported patterns, or NATS messages outside the imported ones.
        filtered => "nats.filtered",
        /// Garbage on Herald subjects (an undecodable peer list, a bad node id, bad headers): skipped.
        bad_input => "nats.bad_input",
        /// Messages held while NATS was unreachable that the backlog bound pushed out (oldest first).
        backlog_dropped => "nats.backlog_dropped",
        /// Messages NATS would not take (publish failed).
        publish_failed => "nats.publish_failed",
        /// Times the connection to NATS was lost.
        disconnects => "nats.disconnects",
        /// Times the connection to NATS was (re)established.
        connects => "nats.connects",
        /// Messages the NATS client dropped because a subscription's queue was full, as far as it reported
        /// them: it sends one notice per message dropped, but through a queue of its own (128 notices) that
        /// drops notices too in a burst, so this is a lower bound.
        slow_consumer => "nats.slow_consumer",
        /// Peers of other sites joined (first seen, or back after their site was lost).
        remote_joined => "nats.remote_joined",
        /// Peers of other sites lost because their site went silent.
        remote_lost => "nats.remote_lost",
        /// Peers of other sites left out because the proxied-peer bound was reached, and topic patterns beyond
        /// the gateway's bound (`sites::MAX_PATTERNS`).
        remote_refused => "nats.remote_refused",
        /// Peer lists from a second gateway claiming this gateway's site.
        second_gateway => "nats.second_gateway",
        /// Direct messages and questions to peers of other sites that could not be sent.
        remote_failed => "nats.remote_failed",
    }
}
