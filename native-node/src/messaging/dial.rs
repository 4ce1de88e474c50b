//! Opening links on demand: the link to a peer is dialled in the background the first time something is
//! queued for it, so no caller ever waits for a connection (the frames wait in the new link's queue). A
//! dialled link is handed to the node's arrivals, where accepted links arrive too and every link is served.
//! A peer that cannot be reached is left alone for a backoff (see [`LinkPool`](super::links::LinkPool));
//! copies meant for it meanwhile are counted as not queued, and the questions waiting on it fail at once.

use std::sync::Arc;
use std::time::Instant;

use herald_core::NodeId;

use super::links::Reserved;
use crate::discovery::peers::LinkTarget;
use crate::link::connection::connect_queued;
use crate::link::LinkSender;
use crate::shared::Shared;
use crate::stats::bump;

/// The open link to `node`, else one opened to it from the peer table.
pub(crate) fn link_to(shared: &Arc<Shared>, node: &NodeId) -> Option<LinkSender> {
    if let Some(sender) = shared.messaging.links.open(node) {
        return Some(sender);
    }
    let target = shared.table().target(node)?;
    sender_for(shared, &target)
}

/// The link to `peer`, dialling one (in the background) if there is none; `None` while the peer is in its
/// reconnect backoff.
pub(crate) fn sender_for(shared: &Arc<Shared>, peer: &LinkTarget) -> Option<LinkSender> {
    let (sender, writer) = match shared.messaging.links.reserve(peer.node_id, Instant::now()) {
        Reserved::Open(sender) => return Some(sender),
        Reserved::BackingOff => {
            tracing::debug!(peer = %peer.name, "peer unreachable a moment ago; not queued");
            return None;
        }
        Reserved::Dial(sender, writer) => (sender, writer),
    };
    let (dialling, queued, peer) = (shared.clone(), sender.clone(), peer.clone());
    shared.tasks.spawn(async move {
        let shared = dialling;
        let links = &shared.messaging.links;
        let connected =
            connect_queued(peer.tcp, links.config(), &shared.tasks, (queued.clone(), writer)).await;
        match connected {
            Ok(link) => {
                // Fails only when the node is shutting down; the link then closes with it.
                let _ = shared.dialled.send(link).await;
            }
            Err(err) => {
                bump(&shared.messaging.counters.links_failed);
                queued.close();
                let retry_in = links.dial_failed(peer.node_id, Instant::now());
                tracing::info!(peer = %peer.name, addr = %peer.tcp, %err, ?retry_in, "cannot open a link");
                let reason = format!("cannot open a link: {err}");
                shared.awaiting.node_gone(peer.node_id, Some(reason));
            }
        }
    });
    Some(sender)
}
