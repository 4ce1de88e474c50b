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
        /// Datagrams that could not be sent (interface down, no route).
        send_errors => "discovery.send_errors",
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
    }
}
