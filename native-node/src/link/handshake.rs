//! The link handshake: each side sends [`Hello`] at once with a fresh random nonce, then reads the other's.
//!
//! Without keys that is all. With a key on both sides each sends a `Proof`: the HMAC of the *other* side's
//! nonce and both ids, so each proves it holds the key without replaying anything (the nonces are fresh per
//! link). A peer speaking another protocol version gets `Refused { Version }`; a peer with no key, a different
//! key, or a key where we have none gets `Refused { Auth }`; either way the link closes. The whole exchange
//! has a deadline, so a peer that connects and says nothing costs one timer.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use herald_core::frame::{Frame, Hello, RefuseReason};
use herald_core::{DecodeError, NodeId, PeerKind, PROTOCOL_VERSION, SOFTWARE_VERSION};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

use super::{FrameCodec, LinkError};
use crate::auth::Key;

/// Default deadline for the whole handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Domain separation for link proofs (never valid as anything else).
const PROOF_CONTEXT: &[u8] = b"herald-link-proof-v1";

/// Who we are, for the `Hello`.
#[derive(Debug, Clone)]
pub struct LocalIdentity {
    /// This node's id.
    pub node_id: NodeId,
    /// This node's name.
    pub name: String,
    /// This node's kind.
    pub kind: PeerKind,
}

/// The peer at the other end of a link, as its `Hello` said (and its proof confirmed, with a key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPeer {
    /// Its id.
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: PeerKind,
    /// Its software version string.
    pub software: String,
}

/// Runs the handshake on a fresh link, within `deadline`.
pub async fn handshake<T>(
    link: &mut Framed<T, FrameCodec>,
    me: &LocalIdentity,
    key: Option<&Key>,
    deadline: Duration,
) -> Result<LinkPeer, LinkError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(deadline, exchange(link, me, key)).await {
        Ok(result) => result,
        Err(_) => Err(LinkError::HandshakeTimeout),
    }
}

async fn exchange<T>(
    link: &mut Framed<T, FrameCodec>,
    me: &LocalIdentity,
    key: Option<&Key>,
) -> Result<LinkPeer, LinkError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let my_nonce: [u8; 16] = rand::random();
    let hello = Hello {
        node_id: me.node_id,
        name: me.name.clone(),
        kind: me.kind,
        software: format!("herald {SOFTWARE_VERSION}"),
        nonce: my_nonce,
        keyed: key.is_some(),
    };
    link.send(&Frame::Hello(hello)).await?;
    let theirs = match next(link).await? {
        Frame::Hello(hello) => hello,
        other => return Err(unexpected(link, other, "expected hello").await),
    };
    match (key, theirs.keyed) {
        (None, false) => {}
        (Some(key), true) => {
            let mac = key.mac(&proof_bytes(&theirs.nonce, &me.node_id, &theirs.node_id));
            link.send(&Frame::Proof { mac }).await?;
            let their_mac = match next(link).await? {
                Frame::Proof { mac } => mac,
                other => return Err(unexpected(link, other, "expected proof").await),
            };
            if !key.verify(
                &proof_bytes(&my_nonce, &theirs.node_id, &me.node_id),
                &their_mac,
            ) {
                return Err(refuse(link, RefuseReason::Auth).await);
            }
        }
        // Only one side has a key: refuse rather than talk unauthenticated.
        _ => return Err(refuse(link, RefuseReason::Auth).await),
    }
    Ok(LinkPeer {
        node_id: theirs.node_id,
        name: theirs.name,
        kind: theirs.kind,
        software: theirs.software,
    })
}

/// The next frame; a frame of another protocol version is answered with `Refused { Version }`.
async fn next<T>(link: &mut Framed<T, FrameCodec>) -> Result<Frame, LinkError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match link.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(LinkError::Decode(DecodeError::BadVersion(_)))) => Err(refuse(
            link,
            RefuseReason::Version {
                supported: PROTOCOL_VERSION,
            },
        )
        .await),
        Some(Err(err)) => Err(err),
        None => Err(LinkError::Closed),
    }
}

/// Sends `Refused` (best effort: the link is closing anyway) and returns the error to report.
async fn refuse<T>(link: &mut Framed<T, FrameCodec>, reason: RefuseReason) -> LinkError
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let _ = link
        .send(&Frame::Refused {
            reason: reason.clone(),
        })
        .await;
    LinkError::WeRefused(reason)
}

/// A frame out of place: the peer's refusal, or our complaint.
async fn unexpected<T>(
    link: &mut Framed<T, FrameCodec>,
    frame: Frame,
    what: &'static str,
) -> LinkError
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    match frame {
        Frame::Refused { reason } => LinkError::TheyRefused(reason),
        _ => {
            let _ = link
                .send(&Frame::Error {
                    code: herald_core::frame::ErrorCode::Unexpected,
                })
                .await;
            LinkError::Unexpected(what)
        }
    }
}

/// What a proof MACs: the verifier's nonce, then the prover's and the verifier's ids.
fn proof_bytes(verifier_nonce: &[u8; 16], prover: &NodeId, verifier: &NodeId) -> Vec<u8> {
    [
        PROOF_CONTEXT,
        verifier_nonce,
        prover.as_bytes(),
        verifier.as_bytes(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncWriteExt, DuplexStream};

    fn identity(name: &str, id: u8) -> LocalIdentity {
        LocalIdentity {
            node_id: NodeId([id; 16]),
            name: name.into(),
            kind: PeerKind::Herald,
        }
    }

    fn pair() -> (
        Framed<DuplexStream, FrameCodec>,
        Framed<DuplexStream, FrameCodec>,
    ) {
        let (a, b) = duplex(64 * 1024);
        (
            Framed::new(a, FrameCodec::default()),
            Framed::new(b, FrameCodec::default()),
        )
    }

    async fn both(
        a_key: Option<Key>,
        b_key: Option<Key>,
    ) -> (Result<LinkPeer, LinkError>, Result<LinkPeer, LinkError>) {
        let (mut a, mut b) = pair();
        let (alpha, bravo) = (identity("alpha", 1), identity("bravo", 2));
        let d = Duration::from_secs(5);
        tokio::join!(
            handshake(&mut a, &alpha, a_key.as_ref(), d),
            handshake(&mut b, &bravo, b_key.as_ref(), d)
        )
    }

    #[tokio::test]
    async fn without_keys_each_side_learns_the_other() {
        let (a, b) = both(None, None).await;
        assert_eq!(a.unwrap().name, "bravo");
        let b = b.unwrap();
        assert_eq!((b.name.as_str(), b.node_id), ("alpha", NodeId([1; 16])));
        assert!(b.software.starts_with("herald "));
    }

    #[tokio::test]
    async fn with_the_same_key_both_prove_it() {
        let key = Key::from_bytes(vec![9; 32]);
        let (a, b) = both(Some(key.clone()), Some(key)).await;
        assert_eq!(a.unwrap().node_id, NodeId([2; 16]));
        assert_eq!(b.unwrap().node_id, NodeId([1; 16]));
    }

    #[tokio::test]
    async fn a_different_key_is_refused() {
        let (a, b) = both(
            Some(Key::from_bytes(vec![9; 32])),
            Some(Key::from_bytes(vec![8; 32])),
        )
        .await;
        assert!(
            matches!(a, Err(LinkError::WeRefused(RefuseReason::Auth))),
            "{a:?}"
        );
        assert!(
            matches!(b, Err(LinkError::WeRefused(RefuseReason::Auth))),
            "{b:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_without_the_key_is_refused_and_told() {
        let (a, b) = both(Some(Key::from_bytes(vec![9; 32])), None).await;
        assert!(
            matches!(a, Err(LinkError::WeRefused(RefuseReason::Auth))),
            "{a:?}"
        );
        assert!(
            matches!(
                b,
                Err(LinkError::WeRefused(RefuseReason::Auth))
                    | Err(LinkError::TheyRefused(RefuseReason::Auth))
            ),
            "{b:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out() {
        let (mut a, _silent) = pair();
        let result = handshake(&mut a, &identity("alpha", 1), None, Duration::from_secs(5)).await;
        assert!(
            matches!(result, Err(LinkError::HandshakeTimeout)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn another_version_is_refused_with_ours() {
        let (a, mut raw) = duplex(1024);
        let mut a = Framed::new(a, FrameCodec::default());
        // A frame header with version 9.
        raw.write_all(&[0, 0, 0, 2, 9, 13]).await.unwrap();
        let result = handshake(&mut a, &identity("alpha", 1), None, Duration::from_secs(5)).await;
        assert!(matches!(
            result,
            Err(LinkError::WeRefused(RefuseReason::Version {
                supported: PROTOCOL_VERSION
            }))
        ));
        let mut peer = Framed::new(raw, FrameCodec::default());
        assert!(matches!(peer.next().await, Some(Ok(Frame::Hello(_)))));
        assert_eq!(
            peer.next().await.unwrap().unwrap(),
            Frame::Refused {
                reason: RefuseReason::Version {
                    supported: PROTOCOL_VERSION
                }
            }
        );
    }

    #[tokio::test]
    async fn garbage_instead_of_a_hello_is_an_error() {
        let (a, mut raw) = duplex(1024);
        let mut a = Framed::new(a, FrameCodec::default());
        raw.write_all(&[0, 0, 0, 3, PROTOCOL_VERSION, 0xff, 0xff])
            .await
            .unwrap();
        let result = handshake(&mut a, &identity("alpha", 1), None, Duration::from_secs(5)).await;
        assert!(
            matches!(result, Err(LinkError::Decode(DecodeError::Malformed(_)))),
            "{result:?}"
        );
    }
}
