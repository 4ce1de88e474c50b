//! Direct messages: a payload to one peer, a list of names, or every live peer that takes links, over the
//! link to each (or handed to the legacy peer this node is the gateway of); what became of it is returned per
//! name.

use std::collections::BTreeMap;
use std::sync::Arc;

use herald_core::bridge::Targets;
use herald_core::frame::Relayed;
use herald_core::Payload;

use super::dial::sender_for;
use crate::shared::Shared;
use crate::stats::bump;

/// What became of a direct message to one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued on the link to the peer (delivered unless the link breaks first).
    Queued,
    /// No live peer has this name (or it takes no links).
    UnknownPeer,
    /// The peer is known but the message could not be queued (unreachable, or too slow: see the reason).
    NotQueued(String),
}

/// Sends a direct message to each target name (every live peer that takes links, for `Targets::All`).
pub(crate) async fn send_direct(
    shared: &Arc<Shared>,
    targets: &Targets,
    payload: Payload,
) -> BTreeMap<String, SendOutcome> {
    let names = match targets {
        Targets::All => shared.table().linkable_names(),
        Targets::Names(names) => names.clone(),
    };
    let mut outcomes = BTreeMap::new();
    for name in names {
        let (target, kind) = {
            let table = shared.table();
            let kind = table.by_name(&name).map(|p| p.kind).unwrap_or_default();
            (table.target_by_name(&name), kind)
        };
        if let Err(reason) = crate::relaying::carriable(kind, &payload, false) {
            bump(&shared.messaging.counters.relay_failed);
            outcomes.insert(name, SendOutcome::NotQueued(reason));
            continue;
        }
        let local = target
            .as_ref()
            .and_then(|t| crate::relaying::local_proxy(shared, t));
        let outcome = match (target, local) {
            (None, _) => {
                let candidates = shared.table().candidates(&name);
                if candidates.len() > 1 {
                    SendOutcome::NotQueued(format!("ambiguous: {}", candidates.join(", ")))
                } else {
                    SendOutcome::UnknownPeer
                }
            }
            (Some(_), Some(peer)) => {
                match crate::relaying::deliver_here(shared, peer, payload.clone()) {
                    Ok(()) => {
                        bump(&shared.messaging.counters.direct_sent);
                        SendOutcome::Queued
                    }
                    Err(reason) => SendOutcome::NotQueued(reason),
                }
            }
            (Some(target), None) => match sender_for(shared, &target) {
                None => SendOutcome::NotQueued("the peer was unreachable a moment ago".into()),
                Some(sender) => match sender
                    .send(crate::relaying::addressed(
                        &target,
                        Relayed::Direct {
                            payload: payload.clone(),
                        },
                    ))
                    .await
                {
                    Ok(()) => {
                        bump(&shared.messaging.counters.direct_sent);
                        SendOutcome::Queued
                    }
                    Err(err) => SendOutcome::NotQueued(err.to_string()),
                },
            },
        };
        outcomes.insert(name, outcome);
    }
    outcomes
}
