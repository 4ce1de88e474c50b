//! The store's writer: one OS thread (SQLite calls block) that owns the [`Store`], takes [`Job`]s from a
//! bounded queue, and commits everything waiting as one transaction, so a burst of reports costs one commit.
//!
//! Only after a commit does it hand the batch's replies to the server (acknowledgements, or refusals at the
//! host cap), publish address changes, and wake the legacy JSON file's rewriter. A failed commit (disk full,
//! database locked) is logged with its cause and counted; the reports in it are refused with
//! [`ReportRefusal::Storage`] (their reporters retry), and the writer goes on with the next batch.

use std::net::SocketAddr;
use std::sync::Arc;

use herald_core::iplog::{IpChange, ReportRefusal};
use tokio::sync::{broadcast, mpsc, Notify};

use super::store::{Recorded, Sighting, Store};
use crate::stats::{bump, IpLogCounters};

/// Most sightings committed in one transaction.
pub const MAX_BATCH: usize = 4096;

/// One sighting to store, and whom to answer once it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// What to store.
    pub sighting: Sighting,
    /// The reporter to acknowledge (Herald reports only).
    pub reply_to: Option<ReplyTo>,
}

/// A Herald reporter waiting for its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo {
    /// Where the report came from.
    pub addr: SocketAddr,
    /// The report's nonce, echoed in the reply.
    pub nonce: u64,
}

/// The answer to one report: stored (`Ok`) or refused.
pub type Verdict = (ReplyTo, Result<(), ReportRefusal>);

/// What the writer thread needs besides its store and queue.
pub struct WriterOutputs {
    /// Verdicts of each committed batch, for the server to send. Bounded: when full the writer waits (the
    /// server drains it before reading more datagrams).
    pub verdicts: Option<mpsc::Sender<Vec<Verdict>>>,
    /// Address changes, to every subscriber (bounded broadcast: a slow one gets `Lagged`).
    pub changes: broadcast::Sender<IpChange>,
    /// Woken after each commit (the legacy JSON rewriter waits on it).
    pub committed: Arc<Notify>,
    /// Counters.
    pub counters: Arc<IpLogCounters>,
}

/// Runs until every sender of `jobs` is dropped and the queue is drained; returns the store.
pub fn run(mut store: Store, mut jobs: mpsc::Receiver<Job>, outputs: WriterOutputs) -> Store {
    let mut sightings = Vec::with_capacity(MAX_BATCH);
    let mut replies = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        sightings.clear();
        replies.clear();
        sightings.push(first.sighting);
        replies.push(first.reply_to);
        while sightings.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => {
                    sightings.push(job.sighting);
                    replies.push(job.reply_to);
                }
                Err(_) => break,
            }
        }
        commit(&mut store, &sightings, &replies, &outputs);
    }
    store
}

fn commit(
    store: &mut Store,
    sightings: &[Sighting],
    replies: &[Option<ReplyTo>],
    outputs: &WriterOutputs,
) {
    let counters = &outputs.counters;
    let mut verdicts = Vec::new();
    match store.record(sightings) {
        Ok(outcomes) => {
            bump(&counters.commits);
            for ((outcome, reply_to), sighting) in outcomes.into_iter().zip(replies).zip(sightings)
            {
                let verdict = match outcome {
                    Recorded::Updated => {
                        bump(&counters.stored);
                        Ok(())
                    }
                    Recorded::Changed(change) => {
                        bump(&counters.stored);
                        bump(&counters.changes);
                        tracing::info!(host = %change.host, old = ?change.old_ip, new = %change.new_ip, source = ?change.source, "address change");
                        let _ = outputs.changes.send(change);
                        Ok(())
                    }
                    Recorded::RefusedHostCap => {
                        bump(&counters.rejected_host_cap);
                        tracing::debug!(host = %sighting.host, ip = %sighting.ip, "new host refused: the host cap is reached");
                        Err(ReportRefusal::HostCap)
                    }
                };
                if let Some(reply_to) = reply_to {
                    verdicts.push((*reply_to, verdict));
                }
            }
            outputs.committed.notify_one();
        }
        Err(err) => {
            bump(&counters.store_errors);
            counters
                .rejected_storage
                .fetch_add(sightings.len() as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(%err, lost = sightings.len(), "IP log commit failed; reporters will retry, the server goes on");
            verdicts.extend(
                replies
                    .iter()
                    .flatten()
                    .map(|reply_to| (*reply_to, Err(ReportRefusal::Storage))),
            );
        }
    }
    if verdicts.is_empty() {
        return;
    }
    if let Some(sender) = &outputs.verdicts {
        // Closed only while the server shuts down: its reporters will retry.
        let _ = sender.blocking_send(verdicts);
    }
}
