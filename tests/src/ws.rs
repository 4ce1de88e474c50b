//! A blocking WebSocket client of a node's bridge (tungstenite), for tests: connect from a host of a [`Lan`],
//! read events, send requests and wait for their replies.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use herald_core::bridge::{BridgeCommand, BridgeEvent, BridgeRequest, CommandResult};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

use crate::{Lan, PATIENCE};

/// A connected client; events it read but nobody took yet are kept in order.
pub struct BridgeClient {
    socket: WebSocket<TcpStream>,
    pending: VecDeque<BridgeEvent>,
    next_id: u64,
}

/// Why a connection was not made.
#[derive(Debug)]
pub enum ConnectError {
    /// Nothing listens (yet).
    Refused,
    /// The HTTP upgrade was answered with this status.
    Status(u16),
    /// Anything else.
    Other(String),
}

impl BridgeClient {
    /// Connects to `ws://{addr}/ws{query}` from host `i`, with an `Origin` header when given.
    pub fn connect(
        lan: &Lan,
        i: usize,
        addr: &str,
        query: &str,
        origin: Option<&str>,
    ) -> Result<BridgeClient, ConnectError> {
        let stream = lan.connect_tcp(i, addr).ok_or(ConnectError::Refused)?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("set a read timeout");
        let mut request = format!("ws://{addr}/ws{query}")
            .into_client_request()
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().expect("a valid header"));
        }
        match tungstenite::client(request, stream) {
            Ok((socket, _)) => Ok(BridgeClient {
                socket,
                pending: VecDeque::new(),
                next_id: 1,
            }),
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                Err(ConnectError::Status(response.status().as_u16()))
            }
            Err(err) => Err(ConnectError::Other(err.to_string())),
        }
    }

    /// Connects, retrying while nothing listens yet (the node is starting), for up to [`PATIENCE`].
    pub fn connect_when_up(lan: &Lan, i: usize, addr: &str, query: &str) -> BridgeClient {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match BridgeClient::connect(lan, i, addr, query, None) {
                Ok(client) => return client,
                Err(ConnectError::Refused) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(err) => panic!("cannot connect to the bridge at {addr}: {err:?}"),
            }
        }
    }

    /// Reads one event from the socket, or `None` at the read timeout.
    fn read(&mut self) -> Option<BridgeEvent> {
        match self.socket.read() {
            Ok(Message::Text(text)) => {
                Some(BridgeEvent::from_json(&text).expect("the bridge sends valid events"))
            }
            Ok(_) => None,
            Err(tungstenite::Error::Io(err))
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(err) => panic!("the bridge connection failed: {err}"),
        }
    }

    /// Takes the oldest event matching `wanted` (others stay queued), waiting up to [`PATIENCE`].
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&BridgeEvent) -> bool) -> BridgeEvent {
        if let Some(at) = self.pending.iter().position(&wanted) {
            return self.pending.remove(at).expect("the position is valid");
        }
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(event) = self.read() {
                if wanted(&event) {
                    return event;
                }
                // Counters come every few seconds; keep them out of the way (and out of failure messages).
                if !matches!(event, BridgeEvent::Stats(_)) {
                    self.pending.push_back(event);
                }
            }
        }
        panic!(
            "no {what} from the bridge within {PATIENCE:?}; got {:?}",
            self.pending
        );
    }

    /// Sends a command and waits for its reply.
    pub fn request(&mut self, command: BridgeCommand) -> CommandResult {
        let id = self.next_id;
        self.next_id += 1;
        let text = BridgeRequest { id, command }.to_json();
        self.send_text(&text);
        let reply = self.wait_for(
            &format!("the reply to request {id}"),
            |e| matches!(e, BridgeEvent::Reply(r) if r.id == Some(id)),
        );
        let BridgeEvent::Reply(reply) = reply else {
            unreachable!()
        };
        reply.result
    }

    /// Sends a text frame as is.
    pub fn send_text(&mut self, text: &str) {
        self.socket
            .send(Message::text(text))
            .expect("send to the bridge");
    }
}
