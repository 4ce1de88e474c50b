//! Service lookup for processes that are not nodes (`herald lookup`), like the old hub's lookup: a query to
//! the group, answered by each provider with a unicast reply to the asking socket.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use herald_core::discovery::{DiscoveryMessage, LookupQuery, ServiceProvider};
use tokio::time::Instant;

use crate::clock::unix_ms;
use crate::config::NodeConfig;
use crate::discovery::sockets::{self, InterfaceError};
use crate::stats::DiscoveryCounters;

/// Why a lookup could not be made (finding nothing is not an error: the result is empty).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The interface cannot be used.
    #[error(transparent)]
    Interface(#[from] InterfaceError),
    /// The socket could not be opened or the query not sent.
    #[error("lookup failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Asks the group who provides `service` and collects unicast replies for `wait` (the query is sent again
/// halfway, in case one was lost). Uses `config`'s interface, group and key. Providers come back sorted by
/// name, each once.
pub async fn lookup(
    config: &NodeConfig,
    service: &str,
    wait: Duration,
) -> Result<Vec<ServiceProvider>, LookupError> {
    let iface = sockets::resolve(&config.interface, config.group)?;
    let socket = sockets::unicast_socket(iface)?;
    let query_id: u64 = rand::random();
    let query = DiscoveryMessage::Lookup(LookupQuery {
        query_id,
        service: service.to_owned(),
    });
    let counters = DiscoveryCounters::default();
    let mut found = BTreeMap::new();
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + wait;
    let mut resend_at = Some(Instant::now() + wait / 2);
    send_query(&socket, &query, config).await?;
    loop {
        let until = resend_at.map_or(deadline, |at| at.min(deadline));
        match tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await {
            Ok(Ok((len, from))) => {
                let message = crate::discovery::open(
                    &buf[..len],
                    from,
                    config.key.as_ref(),
                    config.replay_window,
                    unix_ms(),
                    &counters,
                );
                if let Some(DiscoveryMessage::LookupReply(reply)) = message {
                    if reply.query_id == query_id {
                        found.extend(
                            reply
                                .providers
                                .into_iter()
                                .map(|p| ((p.name.clone(), p.addr), p)),
                        );
                    }
                }
            }
            Ok(Err(err)) => tracing::debug!(%err, "lookup receive failed"),
            Err(_) if Instant::now() >= deadline => break,
            Err(_) => {
                resend_at = None;
                send_query(&socket, &query, config).await?;
            }
        }
    }
    let mut seen = BTreeSet::<SocketAddr>::new();
    Ok(found
        .into_iter()
        .filter(|((_, addr), _)| seen.insert(*addr))
        .map(|(_, p)| p)
        .collect())
}

async fn send_query(
    socket: &tokio::net::UdpSocket,
    query: &DiscoveryMessage,
    config: &NodeConfig,
) -> std::io::Result<()> {
    let bytes = crate::discovery::seal(query, config.key.as_ref(), unix_ms())
        .map_err(std::io::Error::other)?;
    socket.send_to(&bytes, SocketAddr::V4(config.group)).await?;
    Ok(())
}
