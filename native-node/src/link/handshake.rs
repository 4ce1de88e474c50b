//! The link handshake, as `herald_core::handshake` lays it out: each side sends its preamble (protocol
//! version, keyed or not) at once; then, without a key, each sends `Hello`; with one, the dialer and the
//! accepter run a Noise handshake keyed by the LAN key ([`noise`](super::noise)), and each sends `Hello` as
//! the first frame inside the encrypted channel.
//!
//! A peer speaking another protocol version gets `Refused { Version }`; a peer without a key where we have
//! one (or the other way round) gets `Refused { Auth }` after the preambles, and a peer with another key gets
//! it when its first Noise message fails to verify; either way the link closes. The whole exchange has a
//! deadline, so a peer that connects and says nothing costs one timer.
//!
//! What the handshake read past its end (frames, or sealed messages, the peer sent right behind it) is handed
//! on in [`Handshaken`], for the link's reader.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use herald_core::frame::{self, Frame, Hello, RefuseReason};
use herald_core::handshake::{self as wire, HandshakeMessage, Preamble, Security};
use herald_core::{DecodeError, NodeId, PeerKind, PROTOCOL_VERSION, SOFTWARE_VERSION};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::noise::{CipherError, NoiseHandshake, Opener, Sealer};
use super::LinkError;
use crate::auth::Key;

/// Default deadline for the whole handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The peer at the other end of a link, as its `Hello` said (sent inside the encrypted channel with a key).
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

/// Which end of the link this side is (the Noise initiator is the dialer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We connected.
    Dialer,
    /// We accepted.
    Accepter,
}

/// A finished handshake: the peer, and what the link's reader and writer need.
#[derive(Debug)]
pub struct Handshaken {
    /// Who is at the other end.
    pub peer: LinkPeer,
    /// With a key: the ciphers of each direction.
    pub ciphers: Option<(Sealer, Opener)>,
    /// Bytes read past the handshake: frames on a plain link, sealed messages on a keyed one.
    pub read_buf: BytesMut,
    /// Keyed links: plaintext opened past the peer's `Hello` (frames that came with it).
    pub plain_buf: BytesMut,
}

/// Runs the handshake on a fresh link, within `deadline`.
pub async fn handshake<T>(
    io: &mut T,
    me: &LocalIdentity,
    key: Option<&Key>,
    role: Role,
    max_frame: usize,
    deadline: Duration,
) -> Result<Handshaken, LinkError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mut link = Wire {
        io,
        buf: BytesMut::with_capacity(4096),
    };
    match tokio::time::timeout(deadline, exchange(&mut link, me, key, role, max_frame)).await {
        Ok(result) => result,
        Err(_) => Err(LinkError::HandshakeTimeout),
    }
}

async fn exchange<T>(
    link: &mut Wire<'_, T>,
    me: &LocalIdentity,
    key: Option<&Key>,
    role: Role,
    max_frame: usize,
) -> Result<Handshaken, LinkError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let mine = Preamble {
        security: if key.is_some() {
            Security::Keyed
        } else {
            Security::Plain
        },
    };
    link.send(&HandshakeMessage::Preamble(mine)).await?;
    let theirs = match link.receive().await? {
        HandshakeMessage::Preamble(preamble) => preamble,
        _ => return Err(LinkError::Unexpected("expected a preamble")),
    };
    if let Err(reason) = wire::agree(&mine, &theirs) {
        return Err(link.refuse(reason).await);
    }
    let hello = Frame::Hello(Hello {
        node_id: me.node_id,
        name: me.name.clone(),
        kind: me.kind,
        software: format!("herald {SOFTWARE_VERSION}"),
    });
    let Some(key) = key else {
        let mut bytes = Vec::new();
        frame::encode(&hello, &mut bytes, max_frame)?;
        link.io.write_all(&bytes).await?;
        let theirs = link.receive_plain_frame(max_frame).await?;
        return Ok(Handshaken {
            peer: hello_of(theirs)?,
            ciphers: None,
            read_buf: std::mem::take(&mut link.buf),
            plain_buf: BytesMut::new(),
        });
    };
    let (mut sealer, mut opener) = noise(link, key, role, &mine, &theirs).await?;
    let mut plain = Vec::new();
    frame::encode(&hello, &mut plain, max_frame)?;
    let mut sealed = BytesMut::new();
    sealer.seal(&plain, &mut sealed)?;
    link.io.write_all(&sealed).await?;
    let mut plain_buf = BytesMut::new();
    let theirs = loop {
        if let Some((frame, used)) = frame::decode(&plain_buf, max_frame)? {
            plain_buf.advance(used);
            break frame;
        }
        if opener.open(&mut link.buf, &mut plain_buf)? == 0 {
            link.read_more().await?;
        }
    };
    Ok(Handshaken {
        peer: hello_of(theirs)?,
        ciphers: Some((sealer, opener)),
        read_buf: std::mem::take(&mut link.buf),
        plain_buf,
    })
}

/// The Noise handshake: the dialer's message, then the accepter's. A peer with another key is refused by the
/// accepter, which reads the first message.
async fn noise<T>(
    link: &mut Wire<'_, T>,
    key: &Key,
    role: Role,
    mine: &Preamble,
    theirs: &Preamble,
) -> Result<(Sealer, Opener), LinkError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let psk = key.link_psk();
    let mut state = match role {
        Role::Dialer => NoiseHandshake::dialer(&psk, &wire::prologue(mine, theirs)),
        Role::Accepter => NoiseHandshake::accepter(&psk, &wire::prologue(theirs, mine)),
    };
    if role == Role::Dialer {
        link.send(&HandshakeMessage::Noise(state.write()?)).await?;
    }
    let message = match link.receive().await? {
        HandshakeMessage::Noise(message) => message,
        _ => return Err(LinkError::Unexpected("expected a noise message")),
    };
    if state.read(&message).is_err() {
        return Err(link.refuse(RefuseReason::Auth).await);
    }
    if role == Role::Accepter {
        link.send(&HandshakeMessage::Noise(state.write()?)).await?;
    }
    Ok(state.finish()?)
}

/// The peer's `Hello`, or the error its first frame makes (a peer that breaks the protocol is not answered:
/// the link closes).
fn hello_of(frame: Frame) -> Result<LinkPeer, LinkError> {
    match frame {
        Frame::Hello(hello) => Ok(LinkPeer {
            node_id: hello.node_id,
            name: hello.name,
            kind: hello.kind,
            software: hello.software,
        }),
        Frame::Refused { reason } => Err(LinkError::TheyRefused(reason)),
        _ => Err(LinkError::Unexpected("expected hello")),
    }
}

/// The socket during the handshake, with what was read of it.
struct Wire<'a, T> {
    io: &'a mut T,
    buf: BytesMut,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Wire<'_, T> {
    async fn send(&mut self, message: &HandshakeMessage) -> Result<(), LinkError> {
        let mut bytes = Vec::new();
        wire::encode(message, &mut bytes)?;
        self.io.write_all(&bytes).await?;
        Ok(())
    }

    /// The next handshake message; a message of another protocol version is answered `Refused { Version }`,
    /// a refusal becomes [`LinkError::TheyRefused`].
    async fn receive(&mut self) -> Result<HandshakeMessage, LinkError> {
        loop {
            match wire::decode(&self.buf) {
                Ok(Some((HandshakeMessage::Refused(reason), _))) => {
                    return Err(LinkError::TheyRefused(reason))
                }
                Ok(Some((message, used))) => {
                    self.buf.advance(used);
                    return Ok(message);
                }
                Ok(None) => self.read_more().await?,
                Err(DecodeError::BadVersion(_)) => {
                    return Err(self
                        .refuse(RefuseReason::Version {
                            supported: PROTOCOL_VERSION,
                        })
                        .await)
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// The next frame of a plain link (the peer's `Hello`).
    async fn receive_plain_frame(&mut self, max_frame: usize) -> Result<Frame, LinkError> {
        loop {
            if let Some((frame, used)) = frame::decode(&self.buf, max_frame)? {
                self.buf.advance(used);
                return Ok(frame);
            }
            self.read_more().await?;
        }
    }

    async fn read_more(&mut self) -> Result<(), LinkError> {
        self.buf.reserve(4096);
        if self.io.read_buf(&mut self.buf).await? == 0 {
            return Err(LinkError::Closed);
        }
        Ok(())
    }

    /// Sends `Refused` (best effort: the link is closing anyway) and returns the error to report.
    async fn refuse(&mut self, reason: RefuseReason) -> LinkError {
        let _ = self.send(&HandshakeMessage::Refused(reason.clone())).await;
        LinkError::WeRefused(reason)
    }
}

impl From<CipherError> for LinkError {
    fn from(err: CipherError) -> Self {
        LinkError::Cipher(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_core::frame::MAX_FRAME_LEN;
    use tokio::io::{duplex, DuplexStream};

    fn identity(name: &str, id: u8) -> LocalIdentity {
        LocalIdentity {
            node_id: NodeId([id; 16]),
            name: name.into(),
            kind: PeerKind::Herald,
        }
    }

    async fn run(
        io: &mut DuplexStream,
        me: &LocalIdentity,
        key: Option<&Key>,
        role: Role,
    ) -> Result<Handshaken, LinkError> {
        handshake(io, me, key, role, MAX_FRAME_LEN, Duration::from_secs(5)).await
    }

    async fn both(
        a_key: Option<Key>,
        b_key: Option<Key>,
    ) -> (Result<Handshaken, LinkError>, Result<Handshaken, LinkError>) {
        let (mut a, mut b) = duplex(64 * 1024);
        let (alpha, bravo) = (identity("alpha", 1), identity("bravo", 2));
        tokio::join!(
            run(&mut a, &alpha, a_key.as_ref(), Role::Dialer),
            run(&mut b, &bravo, b_key.as_ref(), Role::Accepter)
        )
    }

    fn is_auth_refusal(result: &Result<Handshaken, LinkError>) -> bool {
        matches!(
            result,
            Err(LinkError::WeRefused(RefuseReason::Auth))
                | Err(LinkError::TheyRefused(RefuseReason::Auth))
        )
    }

    #[tokio::test]
    async fn without_keys_each_side_learns_the_other() {
        let (a, b) = both(None, None).await;
        let a = a.unwrap();
        assert_eq!(a.peer.name, "bravo");
        assert!(a.ciphers.is_none());
        let b = b.unwrap();
        assert_eq!(
            (b.peer.name.as_str(), b.peer.node_id),
            ("alpha", NodeId([1; 16]))
        );
        assert!(b.peer.software.starts_with("herald "));
    }

    #[tokio::test]
    async fn with_the_same_key_both_learn_the_other_over_noise() {
        let key = Key::from_bytes(vec![9; 32]);
        let (a, b) = both(Some(key.clone()), Some(key)).await;
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.peer.node_id, NodeId([2; 16]));
        assert_eq!(b.peer.node_id, NodeId([1; 16]));
        // Each side's sealer talks to the other's opener.
        let (mut a_seal, _) = a.ciphers.unwrap();
        let (_, mut b_open) = b.ciphers.unwrap();
        let mut wire = BytesMut::new();
        a_seal.seal(b"after the hello", &mut wire).unwrap();
        let mut plain = BytesMut::new();
        b_open.open(&mut wire, &mut plain).unwrap();
        assert_eq!(&plain[..], b"after the hello");
    }

    #[tokio::test]
    async fn the_hello_travels_encrypted() {
        let key = Key::from_bytes(vec![9; 32]);
        let (mut a, mut b) = duplex(64 * 1024);
        let (mut tap, mut b_side) = duplex(64 * 1024);
        let alpha = identity("a-very-recognisable-name", 1);
        let bravo = identity("bravo", 2);
        // A recording relay between alpha and bravo.
        let relay = async {
            let mut seen = Vec::new();
            let (mut a_buf, mut b_buf) = ([0u8; 4096], [0u8; 4096]);
            loop {
                tokio::select! {
                    n = b.read(&mut a_buf) => {
                        let n = n.unwrap();
                        if n == 0 { break; }
                        seen.extend_from_slice(&a_buf[..n]);
                        tap.write_all(&a_buf[..n]).await.unwrap();
                    }
                    n = tap.read(&mut b_buf) => {
                        let n = n.unwrap();
                        if n == 0 { break; }
                        b.write_all(&b_buf[..n]).await.unwrap();
                    }
                }
            }
            seen
        };
        let ends = async {
            let results = tokio::join!(
                run(&mut a, &alpha, Some(&key), Role::Dialer),
                run(&mut b_side, &bravo, Some(&key), Role::Accepter)
            );
            drop(a);
            drop(b_side);
            results
        };
        let (seen, (ra, rb)) = tokio::join!(relay, ends);
        assert_eq!(rb.unwrap().peer.name, "a-very-recognisable-name");
        assert!(ra.is_ok());
        assert!(
            !seen.windows(10).any(|w| w == b"recognisab"),
            "the name is not readable on the wire"
        );
    }

    #[tokio::test]
    async fn a_different_key_is_refused() {
        let (a, b) = both(
            Some(Key::from_bytes(vec![9; 32])),
            Some(Key::from_bytes(vec![8; 32])),
        )
        .await;
        assert!(is_auth_refusal(&a), "{a:?}");
        assert!(
            matches!(b, Err(LinkError::WeRefused(RefuseReason::Auth))),
            "the accepter finds out from the first noise message: {b:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_without_the_key_is_refused_and_told() {
        for (a_key, b_key) in [
            (Some(Key::from_bytes(vec![9; 32])), None),
            (None, Some(Key::from_bytes(vec![9; 32]))),
        ] {
            let (a, b) = both(a_key, b_key).await;
            assert!(is_auth_refusal(&a), "{a:?}");
            assert!(is_auth_refusal(&b), "{b:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out() {
        let (mut a, _silent) = duplex(1024);
        let result = run(&mut a, &identity("alpha", 1), None, Role::Accepter).await;
        assert!(
            matches!(result, Err(LinkError::HandshakeTimeout)),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_version_2_peer_is_refused_with_ours() {
        let (mut a, mut raw) = duplex(1024);
        // What a version-2 node sends first: a frame header with version 2 (its `Hello`).
        raw.write_all(&[0, 0, 0, 3, 2, 0, 1]).await.unwrap();
        let result = run(&mut a, &identity("alpha", 1), None, Role::Accepter).await;
        assert!(matches!(
            result,
            Err(LinkError::WeRefused(RefuseReason::Version {
                supported: PROTOCOL_VERSION
            }))
        ));
        drop(a);
        let mut sent = Vec::new();
        raw.read_to_end(&mut sent).await.unwrap();
        let (first, used) = wire::decode(&sent).unwrap().unwrap();
        assert!(matches!(first, HandshakeMessage::Preamble(_)));
        assert_eq!(
            wire::decode(&sent[used..]).unwrap().unwrap().0,
            HandshakeMessage::Refused(RefuseReason::Version {
                supported: PROTOCOL_VERSION
            })
        );
        // And the version-2 node itself fails on our first message's version byte, where its frames have theirs.
        assert_eq!(sent[4], PROTOCOL_VERSION);
        assert_ne!(PROTOCOL_VERSION, 2);
    }

    #[tokio::test]
    async fn garbage_instead_of_a_preamble_is_an_error() {
        let (mut a, mut raw) = duplex(1024);
        raw.write_all(&[0, 0, 0, 3, PROTOCOL_VERSION, 0xff, 0xff])
            .await
            .unwrap();
        let result = run(&mut a, &identity("alpha", 1), None, Role::Dialer).await;
        assert!(
            matches!(result, Err(LinkError::Decode(DecodeError::Malformed(_)))),
            "{result:?}"
        );
    }
}
