//! A hein receiver (`herald node --hein-connect HOST:PORT=TOPIC [--hein-name NAME]`): the node connects to an
//! existing hein transmitter as a `SocReceiver` would and publishes each of its frames on TOPIC: `__raw__`
//! bodies as they are, `__jsn__` bodies turned from hein's extended JSON into standard JSON text.
//!
//! As hein: wait up to 1 s for the ACK byte, send the name (at most 15 bytes), wait up to 1 s for the second
//! ACK, then read frames and send one ACK per read that completed at least one frame, before handling them.
//! `__png__` is only acknowledged; `__die__` closes the connection. While the transmitter is away (refused, a
//! handshake that fails, EOF, `__die__`) the node tries again every 0.5 s. Bad frames (unknown kind, malformed,
//! oversized, JSON that does not parse) are counted in `legacy.hein.bad_frames`, logged, and skipped.

use std::sync::Arc;
use std::time::Duration;

use herald_core::legacy::hein::{self, HeinDecoder, HeinFrame, HeinKind, ACK, MAX_NAME_LEN};
use herald_core::Payload;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::node::Node;
use crate::stats::bump;

/// Wait between connection attempts (hein's `connectWait`).
pub const RECONNECT_WAIT: Duration = Duration::from_millis(500);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long each ACK of the handshake is waited for (hein's receiver waits 1 s).
const ACK_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest hein frame taken; a transmitter sending more without a terminator is cut off and reconnected.
pub const MAX_HEIN_FRAME: usize = herald_core::frame::MAX_FRAME_LEN;
/// Bytes read at once.
const READ_BUFFER: usize = 16 * 1024;

/// One `--hein-connect HOST:PORT=TOPIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeinConnectConfig {
    /// The transmitter, `HOST:PORT` (resolved at each attempt).
    pub server: String,
    /// The topic its frames are published on.
    pub topic: String,
    /// The receiver name sent to the transmitter (at most 15 bytes are sent).
    pub name: String,
}

impl HeinConnectConfig {
    /// Parses `HOST:PORT=TOPIC`; the name is the node's unless given.
    pub fn parse(text: &str, name: &str) -> Result<HeinConnectConfig, String> {
        let (server, topic) = text.split_once('=').ok_or("expected HOST:PORT=TOPIC")?;
        let port = server.rsplit_once(':').map(|(_, port)| port);
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(format!("{server:?} is not HOST:PORT"));
        }
        crate::topics::TopicPattern::parse(topic).map_err(|e| e.to_string())?;
        if topic.ends_with('*') {
            return Err(format!(
                "{topic:?}: frames are published on one topic, not a pattern"
            ));
        }
        Ok(HeinConnectConfig {
            server: server.to_owned(),
            topic: topic.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// The receiver task for one transmitter.
pub struct HeinReceiver {
    node: Arc<Node>,
    config: HeinConnectConfig,
}

impl HeinReceiver {
    /// A receiver for `config`, publishing through `node`.
    pub fn new(node: Arc<Node>, config: HeinConnectConfig) -> HeinReceiver {
        HeinReceiver { node, config }
    }

    /// Connects, receives and reconnects until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut reported = false;
        loop {
            let session = tokio::select! {
                _ = shutdown.cancelled() => return,
                session = self.session() => session,
            };
            match session {
                Ok(reason) => {
                    reported = false;
                    tracing::info!(server = %self.config.server, reason, "hein transmitter connection ended; reconnecting");
                }
                Err(reason) => {
                    bump(&self.node.legacy_counters().hein_connect_failures);
                    // Said once per outage, not every half second.
                    if !reported {
                        tracing::info!(server = %self.config.server, %reason, "hein transmitter not reachable; retrying every 0.5 s");
                        reported = true;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(RECONNECT_WAIT) => {}
            }
        }
    }

    /// One connection: `Err` if it never got past the handshake, else why it ended.
    async fn session(&self) -> Result<&'static str, String> {
        let mut stream =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.config.server))
                .await
                .map_err(|_| "no answer to the connection".to_owned())?
                .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        expect_ack(&mut stream).await?;
        stream
            .write_all(&latin1_name(&self.config.name))
            .await
            .map_err(|e| e.to_string())?;
        expect_ack(&mut stream).await?;
        tracing::info!(server = %self.config.server, topic = %self.config.topic, "connected to a hein transmitter");
        let mut decoder = HeinDecoder::new(MAX_HEIN_FRAME);
        let mut buf = vec![0u8; READ_BUFFER];
        let mut frames = Vec::new();
        loop {
            let len = match stream.read(&mut buf).await {
                Ok(0) => return Ok("the transmitter closed the connection"),
                Ok(len) => len,
                Err(_) => return Ok("read failed"),
            };
            decoder.push(&buf[..len]);
            frames.clear();
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => frames.push(frame),
                    Ok(None) => break,
                    Err(err @ hein::HeinError::TooLarge { .. }) => {
                        bump(&self.node.legacy_counters().hein_bad_frames);
                        tracing::warn!(server = %self.config.server, %err, "hein frame too large; reconnecting");
                        return Ok("a frame too large");
                    }
                    Err(err) => {
                        bump(&self.node.legacy_counters().hein_bad_frames);
                        tracing::debug!(server = %self.config.server, %err, "bad hein frame skipped");
                    }
                }
            }
            if frames.is_empty() {
                continue;
            }
            // One ACK per read that completed a frame, sent before the frames are handled (as hein does).
            if stream.write_all(&[ACK]).await.is_err() {
                return Ok("write failed");
            }
            for frame in frames.drain(..) {
                if frame.kind == HeinKind::Die {
                    return Ok("the transmitter said die");
                }
                self.publish(frame).await;
            }
        }
    }

    /// Publishes one frame's body on the topic (`__png__` publishes nothing).
    async fn publish(&self, frame: HeinFrame) {
        let counters = self.node.legacy_counters();
        let payload = match frame.kind {
            HeinKind::Raw => Payload::from(frame.body),
            HeinKind::Json => match hein::json_body_to_value(&frame.body) {
                Ok(value) => Payload::from(value.to_string()),
                Err(err) => {
                    bump(&counters.hein_bad_frames);
                    tracing::debug!(server = %self.config.server, %err, "hein JSON not decodable; frame skipped");
                    return;
                }
            },
            HeinKind::Ping | HeinKind::Die => return,
        };
        bump(&counters.hein_frames_received);
        if let Err(err) = self.node.publish(&self.config.topic, payload).await {
            tracing::warn!(topic = %self.config.topic, %err, "hein frame not published");
        }
    }
}

/// Waits up to a second for hein's ACK byte.
async fn expect_ack(stream: &mut TcpStream) -> Result<(), String> {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(ACK_TIMEOUT, stream.read(&mut byte)).await {
        Err(_) => Err("no ACK within 1 s (refused, or not a hein transmitter)".into()),
        Ok(Err(err)) => Err(err.to_string()),
        Ok(Ok(0)) => Err("closed during the handshake (receiver limit reached?)".into()),
        Ok(Ok(_)) if byte[0] == ACK => Ok(()),
        Ok(Ok(_)) => Err(format!("byte {:#04x} instead of the ACK", byte[0])),
    }
}

/// A receiver name as hein sends it: Latin-1, at most 15 bytes (characters outside Latin-1 become `?`).
fn latin1_name(name: &str) -> Vec<u8> {
    name.chars()
        .take(MAX_NAME_LEN)
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_parse_and_patterns_are_refused() {
        let config = HeinConnectConfig::parse("198.51.100.2:5005=hein.in", "gw").unwrap();
        assert_eq!(config.server, "198.51.100.2:5005");
        assert_eq!(config.topic, "hein.in");
        assert!(HeinConnectConfig::parse("host=topic", "gw").is_err());
        assert!(HeinConnectConfig::parse("host:1=sensors.*", "gw").is_err());
        assert!(HeinConnectConfig::parse("host:1", "gw").is_err());
    }

    #[test]
    fn names_go_out_in_latin1_cut_to_15_bytes() {
        assert_eq!(latin1_name("h\u{e9}"), [b'h', 0xe9]);
        assert_eq!(latin1_name("a\u{263a}"), b"a?");
        assert_eq!(latin1_name("abcdefghijklmnopq").len(), 15);
    }
}
