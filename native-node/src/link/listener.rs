//! The link listener: accepts connections behind a semaphore permit (at most `max_links` at once), runs each
//! handshake on its own task, and hands established links to the node over a bounded channel. Failed accepts
//! back off (doubling up to a second) instead of spinning; refused handshakes are counted and logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection::{accept, Established, LinkConfig};

/// Default bound on simultaneous inbound links.
pub const DEFAULT_MAX_LINKS: usize = 1024;

/// Counters of the listener.
#[derive(Debug, Default)]
pub struct ListenerCounters {
    /// Links established.
    pub accepted: AtomicU64,
    /// Handshakes that failed or were refused (bad key, other version, silence, garbage).
    pub handshakes_failed: AtomicU64,
}

/// An established inbound link and the permit that counts it; drop both when the link ends.
pub struct Inbound {
    /// The link.
    pub link: Established,
    /// Held while the link lives.
    pub permit: tokio::sync::OwnedSemaphorePermit,
}

/// Accepts links until `shutdown`, sending each established one on `out` (bounded: if the node is not taking
/// them, the accept loop waits rather than piling them up).
pub async fn run(
    listener: TcpListener,
    config: Arc<LinkConfig>,
    max_links: usize,
    out: mpsc::Sender<Inbound>,
    counters: Arc<ListenerCounters>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(max_links));
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(err) => {
                tracing::warn!(%err, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let (config, out, counters, inner_tasks) =
            (config.clone(), out.clone(), counters.clone(), tasks.clone());
        tasks.spawn(async move {
            match accept(stream, addr, &config, &inner_tasks).await {
                Ok(link) => {
                    counters.accepted.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %link.peer.name, %addr, "link accepted");
                    let _ = out.send(Inbound { link, permit }).await;
                }
                Err(err) => {
                    counters.handshakes_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%addr, %err, "inbound link refused");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Key;
    use crate::link::connection::connect;
    use crate::link::handshake::LocalIdentity;
    use crate::link::LinkError;
    use herald_core::frame::{Frame, RefuseReason};
    use herald_core::{NodeId, PeerKind};
    use tokio::io::AsyncWriteExt;

    fn config(name: &str, id: u8, key: Option<Key>) -> Arc<LinkConfig> {
        Arc::new(LinkConfig::new(
            LocalIdentity {
                node_id: NodeId([id; 16]),
                name: name.into(),
                kind: PeerKind::Herald,
            },
            key,
        ))
    }

    struct Server {
        addr: std::net::SocketAddr,
        inbound: mpsc::Receiver<Inbound>,
        counters: Arc<ListenerCounters>,
        links: Arc<crate::link::LinkCounters>,
        shutdown: CancellationToken,
    }

    async fn server(key: Option<Key>, max_links: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, inbound) = mpsc::channel(16);
        let counters = Arc::new(ListenerCounters::default());
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let cfg = config("server", 1, key);
        let links = cfg.counters.clone();
        tokio::spawn(run(
            listener,
            cfg,
            max_links,
            tx,
            counters.clone(),
            tasks,
            shutdown.clone(),
        ));
        Server {
            addr,
            inbound,
            counters,
            links,
            shutdown,
        }
    }

    /// Waits (up to 5 s) until `counter` reaches `value`.
    async fn reaches(counter: &AtomicU64, value: u64) {
        let waited = tokio::time::timeout(Duration::from_secs(5), async {
            while counter.load(Ordering::Relaxed) < value {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        waited.await.expect("the counter moved");
        assert_eq!(counter.load(Ordering::Relaxed), value);
    }

    #[tokio::test]
    async fn frames_flow_both_ways_over_a_keyed_link_large_ones_too() {
        let key = Key::from_bytes(vec![5; 32]);
        let mut server = server(Some(key.clone()), 4).await;
        let tasks = TaskTracker::new();
        let mut client = connect(server.addr, &config("client", 2, Some(key)), &tasks)
            .await
            .unwrap();
        assert_eq!(client.peer.name, "server");
        let Inbound {
            link: mut inbound,
            permit: _permit,
        } = server.inbound.recv().await.unwrap();
        assert_eq!(inbound.peer.name, "client");
        // Bigger than one sealed message: split on the way, whole on arrival.
        let big = Frame::Direct {
            payload: vec![0x5a; 200_000].into(),
        };
        client.sender.try_send(Frame::Ping { nonce: 7 }).unwrap();
        client.sender.try_send(big.clone()).unwrap();
        assert_eq!(
            inbound.next().await.unwrap(),
            Some(Frame::Ping { nonce: 7 })
        );
        assert_eq!(inbound.next().await.unwrap(), Some(big));
        inbound.sender.try_send(Frame::Pong { nonce: 7 }).unwrap();
        assert_eq!(client.next().await.unwrap(), Some(Frame::Pong { nonce: 7 }));
        client.sender.close();
        assert_eq!(inbound.next().await.unwrap(), None);
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_peer_with_another_key_is_refused_and_counted_on_both_sides() {
        let server = server(Some(Key::from_bytes(vec![5; 32])), 4).await;
        let tasks = TaskTracker::new();
        let other = config("intruder", 3, Some(Key::from_bytes(vec![6; 32])));
        let result = connect(server.addr, &other, &tasks).await;
        assert!(
            matches!(result, Err(LinkError::TheyRefused(RefuseReason::Auth))),
            "{:?}",
            result.err()
        );
        reaches(&server.links.refused_auth, 1).await;
        reaches(&server.counters.handshakes_failed, 1).await;
        assert_eq!(other.counters.refused_auth.load(Ordering::Relaxed), 1);
        assert_eq!(server.counters.accepted.load(Ordering::Relaxed), 0);
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_sealed_message_that_does_not_open_closes_the_link_and_is_counted() {
        use crate::link::handshake::{handshake, Role};
        let key = Key::from_bytes(vec![5; 32]);
        let mut server = server(Some(key.clone()), 4).await;
        let mut raw = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let me = config("forger", 4, None).me.clone();
        let done = handshake(
            &mut raw,
            &me,
            Some(&key),
            Role::Dialer,
            herald_core::frame::MAX_FRAME_LEN,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        // A well-formed sealed message, tampered with after sealing.
        let (mut sealer, _) = done.ciphers.unwrap();
        let mut plain = Vec::new();
        herald_core::frame::encode(&Frame::Ping { nonce: 1 }, &mut plain, 1024).unwrap();
        let mut sealed = bytes::BytesMut::new();
        sealer.seal(&plain, &mut sealed).unwrap();
        sealed[4] ^= 0x80;
        raw.write_all(&sealed).await.unwrap();
        let Inbound {
            link: mut inbound,
            permit: _permit,
        } = server.inbound.recv().await.unwrap();
        assert!(matches!(
            inbound.next().await,
            Err(LinkError::Cipher(crate::link::CipherError::Decrypt))
        ));
        reaches(&server.links.decrypt_failed, 1).await;
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn frames_flow_both_ways_over_an_established_link() {
        let mut server = server(None, 4).await;
        let tasks = TaskTracker::new();
        let mut client = connect(server.addr, &config("client", 2, None), &tasks)
            .await
            .unwrap();
        assert_eq!(client.peer.name, "server");
        let Inbound {
            link: mut inbound,
            permit: _permit,
        } = server.inbound.recv().await.unwrap();
        assert_eq!(inbound.peer.name, "client");
        client.sender.try_send(Frame::Ping { nonce: 7 }).unwrap();
        assert_eq!(
            inbound.next().await.unwrap(),
            Some(Frame::Ping { nonce: 7 })
        );
        inbound.sender.try_send(Frame::Pong { nonce: 7 }).unwrap();
        assert_eq!(client.next().await.unwrap(), Some(Frame::Pong { nonce: 7 }));
        client.sender.close();
        assert_eq!(
            inbound.next().await.unwrap(),
            None,
            "a closed link ends the stream"
        );
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_frame_arriving_with_the_handshake_is_not_held_back() {
        use herald_core::frame::{encode, Hello, MAX_FRAME_LEN};
        use herald_core::handshake::{self, HandshakeMessage, Preamble, Security};
        let mut server = server(None, 4).await;
        let mut raw = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let hello = Hello {
            node_id: NodeId([7; 16]),
            name: "eager".into(),
            kind: PeerKind::Herald,
            software: "test".into(),
        };
        // Preamble, Hello and a first frame in one write: the server's handshake reads them at once.
        let mut bytes = Vec::new();
        let preamble = HandshakeMessage::Preamble(Preamble {
            security: Security::Plain,
        });
        handshake::encode(&preamble, &mut bytes).unwrap();
        encode(&Frame::Hello(hello), &mut bytes, MAX_FRAME_LEN).unwrap();
        encode(&Frame::Ping { nonce: 42 }, &mut bytes, MAX_FRAME_LEN).unwrap();
        raw.write_all(&bytes).await.unwrap();
        let Inbound {
            link: mut inbound,
            permit: _permit,
        } = server.inbound.recv().await.unwrap();
        let next = tokio::time::timeout(Duration::from_secs(5), inbound.next()).await;
        assert_eq!(
            next.expect("the ping was held back").unwrap(),
            Some(Frame::Ping { nonce: 42 })
        );
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn a_peer_without_the_key_is_refused_and_counted() {
        let server = server(Some(Key::from_bytes(vec![5; 32])), 4).await;
        let tasks = TaskTracker::new();
        let result = connect(server.addr, &config("intruder", 3, None), &tasks).await;
        assert!(
            matches!(
                result,
                Err(LinkError::TheyRefused(RefuseReason::Auth))
                    | Err(LinkError::WeRefused(RefuseReason::Auth))
            ),
            "{:?}",
            result.err()
        );
        for _ in 0..100 {
            if server.counters.handshakes_failed.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.counters.handshakes_failed.load(Ordering::Relaxed), 1);
        assert_eq!(server.counters.accepted.load(Ordering::Relaxed), 0);
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn garbage_mid_handshake_is_counted_and_the_listener_carries_on() {
        let mut server = server(None, 4).await;
        let mut junk = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        junk.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        drop(junk);
        let tasks = TaskTracker::new();
        let good = connect(server.addr, &config("client", 2, None), &tasks)
            .await
            .unwrap();
        assert_eq!(good.peer.name, "server");
        assert!(server.inbound.recv().await.is_some());
        for _ in 0..100 {
            if server.counters.handshakes_failed.load(Ordering::Relaxed) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(server.counters.handshakes_failed.load(Ordering::Relaxed), 1);
        server.shutdown.cancel();
    }
}
