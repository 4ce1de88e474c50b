//! The pythonConnect gateway (`herald node --pyconnect`): the node is a pythonConnect device to the old
//! devices on the LAN, and makes each device it meets a `pythonconnect` peer that any Herald node can message
//! and ask, through this node.
//!
//! As the old library: `hello` then `alive` adverts on the group (239.255.4.3:3235, sent from port 3235 on the
//! node's interface), `alive` every 30 s and at once to a newcomer; of two devices, the one with the smaller
//! name opens the TCP connection (port 4112); both send their name frame first. Frames are `/EOL`-terminated
//! text: `MeSsAgE:,:TEXT` (to this node: a direct message from the device), `QuEsTiOn:,:KEY:,:TEXT`
//! (answered by this node's answer handler with `AnSwEr:,:KEY:,:TEXT`), `quitQUITquit`.
//!
//! The old reader keeps only the first frame of a read and takes at most 512 bytes, so the gateway writes one
//! frame at a time: after a question it waits for the answer (or the question's timeout), after anything else
//! [`FRAME_GAP`]; longer frames are refused with a clear reason instead of sent. Frames waiting for a device
//! are bounded ([`DEVICE_QUEUE`]): beyond it a message is refused (`legacy.pyconnect.dropped`), never queued
//! without bound. A device whose connection ends stops being a peer until its next advert reconnects it, as in
//! the old library.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use herald_core::frame::AnswerBody;
use herald_core::legacy::pyconnect::{
    encode_name, Advert, AdvertKind, PcFrame, PcFrameReader, PyConnectError, ADVERT_INTERVAL_MS,
    DEFAULT_GROUP, MAX_ADVERT_LEN, TCP_PORT,
};
use herald_core::{NodeId, Payload, PeerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{udp_port_socket, LegacyError, MAX_CONNECTIONS};
use crate::discovery::sockets;
use crate::node::Node;
use crate::proxies::{ProxiedPeer, ProxyEndpoint};
use crate::stats::bump;

/// Pause after writing a frame other than a question, so the old reader has taken it before the next.
pub const FRAME_GAP: Duration = Duration::from_millis(50);
/// Frames waiting to be written to one device.
pub const DEVICE_QUEUE: usize = 64;
/// How long a new connection has to send its name frame.
const NAME_TIMEOUT: Duration = Duration::from_secs(5);
/// Delay of the second start-up advert (the old library's 20 ms).
const SECOND_ADVERT: Duration = Duration::from_millis(20);
/// A device's question is answered within this (the old `askDevice` waits 2 s by default).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// Devices registered at once.
const MAX_DEVICES: usize = 256;
/// How long connecting to a device's TCP port may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the gateway runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyConnectConfig {
    /// The adverts' group and UDP port ([`DEFAULT_GROUP`]).
    pub group: SocketAddrV4,
    /// The TCP port, to listen on and to connect to ([`TCP_PORT`]).
    pub tcp_port: u16,
    /// This gateway's name as a device (the node's name).
    pub name: String,
}

impl PyConnectConfig {
    /// The old library's group and port, under `name`.
    pub fn new(name: &str) -> PyConnectConfig {
        PyConnectConfig {
            group: DEFAULT_GROUP,
            tcp_port: TCP_PORT,
            name: name.to_owned(),
        }
    }
}

/// A frame for a device, and for a question the channel its answer goes to.
struct Outgoing {
    frame: PcFrame,
    answer: Option<(oneshot::Sender<String>, Duration)>,
}

/// The devices connected now, by name.
#[derive(Default)]
struct Devices {
    connected: HashMap<String, Device>,
    /// Names being connected to (by us, the smaller name).
    connecting: std::collections::HashSet<String>,
    next_generation: u64,
}

struct Device {
    generation: u64,
    outgoing: mpsc::Sender<Outgoing>,
    closed: CancellationToken,
}

type SharedDevices = Arc<Mutex<Devices>>;

fn lock(devices: &SharedDevices) -> MutexGuard<'_, Devices> {
    devices.lock().unwrap_or_else(|p| p.into_inner())
}

/// The gateway task.
pub struct Gateway {
    node: Arc<Node>,
    config: PyConnectConfig,
    group: UdpSocket,
    adverts: UdpSocket,
    listener: TcpListener,
    devices: SharedDevices,
    slots: Arc<tokio::sync::Semaphore>,
}

impl Gateway {
    /// Opens the group socket, the advert socket (the group's port on the node's address) and the TCP
    /// listener, all on the node's interface.
    pub async fn bind(node: Arc<Node>, config: PyConnectConfig) -> Result<Gateway, LegacyError> {
        let iface = node.local_ip();
        let group = sockets::group_socket(config.group, iface).map_err(LegacyError::socket(
            "pythonConnect",
            format!("group {} on {iface}", config.group),
        ))?;
        let adverts = udp_port_socket(SocketAddrV4::new(iface, config.group.port()))
            .and_then(|socket| {
                {
                    let socket = socket2::SockRef::from(&socket);
                    socket.set_multicast_if_v4(&iface)?;
                    socket.set_multicast_loop_v4(true)?;
                    socket.set_multicast_ttl_v4(1)?;
                    Ok(())
                }
                .map(|()| socket)
            })
            .map_err(LegacyError::socket(
                "pythonConnect",
                format!("UDP {iface}:{}", config.group.port()),
            ))?;
        let tcp = SocketAddrV4::new(iface, config.tcp_port);
        let listener = TcpListener::bind(tcp)
            .await
            .map_err(LegacyError::socket("pythonConnect", format!("TCP {tcp}")))?;
        tracing::info!(group = %config.group, %tcp, name = %config.name, "pythonConnect gateway listening");
        Ok(Gateway {
            node,
            config,
            group,
            adverts,
            listener,
            devices: SharedDevices::default(),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
        })
    }

    /// Advertises, meets devices and serves their connections until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let connections = TaskTracker::new();
        self.advertise(AdvertKind::Hello).await;
        let mut alive_at = tokio::time::Instant::now() + SECOND_ADVERT;
        let mut buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep_until(alive_at) => {
                    self.advertise(AdvertKind::Alive).await;
                    alive_at = tokio::time::Instant::now() + Duration::from_millis(ADVERT_INTERVAL_MS);
                }
                received = self.group.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.on_advert(&buf[..len], from, &connections, &shutdown).await,
                    Err(err) => tracing::debug!(%err, "pythonConnect receive failed"),
                },
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, from)) => {
                        let Some(permit) = self.slot(from) else { continue };
                        let serving = self.connection(&shutdown).serve(stream, from, None);
                        connections.spawn(async move {
                            serving.await;
                            drop(permit);
                        });
                    }
                    Err(err) => {
                        tracing::debug!(%err, "pythonConnect accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        }
        connections.close();
        connections.wait().await;
    }

    async fn advertise(&self, kind: AdvertKind) {
        let advert = Advert {
            kind,
            name: self.config.name.clone(),
        };
        if let Err(err) = self
            .adverts
            .send_to(&advert.encode(), SocketAddr::V4(self.config.group))
            .await
        {
            tracing::debug!(%err, "pythonConnect advert not sent");
        }
    }

    /// An advert from `from`: a newcomer is answered with `alive` at once and, if its name is the larger,
    /// connected to.
    async fn on_advert(
        &self,
        bytes: &[u8],
        from: SocketAddr,
        connections: &TaskTracker,
        shutdown: &CancellationToken,
    ) {
        let counters = self.node.legacy_counters();
        let bytes = &bytes[..bytes.len().min(MAX_ADVERT_LEN)];
        let advert = match Advert::decode(bytes) {
            Ok(advert) => advert,
            Err(err) => {
                bump(&counters.pyconnect_bad_input);
                tracing::debug!(%from, %err, "pythonConnect advert refused");
                return;
            }
        };
        if advert.name == self.config.name {
            return;
        }
        bump(&counters.pyconnect_adverts);
        let known = {
            let devices = lock(&self.devices);
            devices.connected.contains_key(&advert.name)
                || devices.connecting.contains(&advert.name)
        };
        if known {
            return;
        }
        self.advertise(AdvertKind::Alive).await;
        if advert.name.as_str() > self.config.name.as_str() {
            let Some(permit) = self.slot(from) else {
                return;
            };
            lock(&self.devices).connecting.insert(advert.name.clone());
            let addr = SocketAddr::new(from.ip(), self.config.tcp_port);
            let connection = self.connection(shutdown);
            let (devices, name) = (self.devices.clone(), advert.name);
            connections.spawn(async move {
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => connection.serve(stream, addr, Some(name.clone())).await,
                    Ok(Err(err)) => tracing::info!(device = %name, %addr, %err, "cannot connect to a pythonConnect device"),
                    Err(_) => tracing::info!(device = %name, %addr, "no answer from a pythonConnect device's port"),
                }
                lock(&devices).connecting.remove(&name);
                drop(permit);
            });
        }
    }

    /// A place for one more connection, or `None` (counted, logged) at [`MAX_CONNECTIONS`].
    fn slot(&self, from: SocketAddr) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.slots.clone().try_acquire_owned().ok();
        if permit.is_none() {
            bump(&self.node.legacy_counters().pyconnect_bad_input);
            tracing::debug!(%from, max = MAX_CONNECTIONS, "too many pythonConnect connections; not served");
        }
        permit
    }

    fn connection(&self, shutdown: &CancellationToken) -> Connection {
        Connection {
            node: self.node.clone(),
            own_name: self.config.name.clone(),
            devices: self.devices.clone(),
            shutdown: shutdown.clone(),
        }
    }
}

/// One device's connection.
struct Connection {
    node: Arc<Node>,
    own_name: String,
    devices: SharedDevices,
    shutdown: CancellationToken,
}

impl Connection {
    async fn serve(self, mut stream: TcpStream, from: SocketAddr, expected: Option<String>) {
        let counters = self.node.legacy_counters();
        let _ = stream.set_nodelay(true);
        let Ok(own) = encode_name(&self.own_name) else {
            tracing::warn!(name = %self.own_name, "this node's name cannot be a pythonConnect name");
            return;
        };
        if stream.write_all(&own).await.is_err() {
            return;
        }
        let mut reader = PcFrameReader::new();
        let mut buf = vec![0u8; 4096];
        let name = match tokio::time::timeout(
            NAME_TIMEOUT,
            read_text(&mut stream, &mut reader, &mut buf),
        )
        .await
        {
            Ok(Ok(Some(name))) if valid_name(&name) => name,
            Ok(Ok(Some(_))) | Ok(Err(_)) => {
                bump(&counters.pyconnect_bad_input);
                tracing::debug!(%from, "pythonConnect connection without a usable name frame");
                return;
            }
            Ok(Ok(None)) | Err(_) => {
                tracing::debug!(%from, "pythonConnect connection closed or silent before its name");
                return;
            }
        };
        if expected.as_ref().is_some_and(|e| *e != name) {
            tracing::info!(%from, %name, expected = ?expected, "pythonConnect device answered under another name");
        }
        let (outgoing, queue) = mpsc::channel(DEVICE_QUEUE);
        let Some((generation, closed)) = self.register(&name, outgoing.clone()) else {
            tracing::warn!(%from, device = %name, max = MAX_DEVICES, "too many pythonConnect devices; connection refused");
            return;
        };
        bump(&counters.pyconnect_connections);
        let peer = ProxiedPeer {
            name: name.clone(),
            kind: PeerKind::Pythonconnect,
            addr: from.ip(),
            services: Default::default(),
            site: None,
            txt: Default::default(),
        };
        let endpoint = Arc::new(DeviceEndpoint {
            device: name.clone(),
            outgoing,
            node: Arc::downgrade(&self.node),
        });
        let proxied = match self.node.proxy(peer, Some(endpoint)) {
            Ok(id) => Some(id),
            Err(err) => {
                tracing::warn!(device = %name, %err, "pythonConnect device not shown as a peer");
                None
            }
        };
        tracing::info!(%from, device = %name, "pythonConnect device connected");
        let (read_half, write_half) = stream.into_split();
        let pending = Arc::new(Mutex::new(HashMap::<String, oneshot::Sender<String>>::new()));
        let writer = write_frames(write_half, queue, pending.clone(), closed.clone());
        let reader = self.read_frames(
            read_half,
            reader,
            buf,
            &name,
            proxied.unwrap_or(NodeId([0; 16])),
            pending,
        );
        let ended = tokio::select! {
            _ = self.shutdown.cancelled() => "gateway stopping",
            _ = closed.cancelled() => "replaced by a new connection",
            ended = reader => ended,
            ended = writer => ended,
        };
        tracing::info!(%from, device = %name, ended, "pythonConnect device disconnected");
        let mut devices = lock(&self.devices);
        if devices
            .connected
            .get(&name)
            .is_some_and(|d| d.generation == generation)
        {
            devices.connected.remove(&name);
            drop(devices);
            if let Some(id) = proxied {
                self.node.unproxy(id);
            }
        }
    }

    /// Registers the device's connection (replacing an older one); `None` at [`MAX_DEVICES`].
    fn register(
        &self,
        name: &str,
        outgoing: mpsc::Sender<Outgoing>,
    ) -> Option<(u64, CancellationToken)> {
        let mut devices = lock(&self.devices);
        if !devices.connected.contains_key(name) && devices.connected.len() >= MAX_DEVICES {
            return None;
        }
        devices.next_generation += 1;
        let generation = devices.next_generation;
        let closed = CancellationToken::new();
        let device = Device {
            generation,
            outgoing,
            closed: closed.clone(),
        };
        if let Some(old) = devices.connected.insert(name.to_owned(), device) {
            old.closed.cancel();
        }
        Some((generation, closed))
    }

    /// Reads the device's frames until it quits or the connection ends; says why.
    async fn read_frames(
        &self,
        mut stream: tokio::net::tcp::OwnedReadHalf,
        mut reader: PcFrameReader,
        mut buf: Vec<u8>,
        device: &str,
        device_id: NodeId,
        pending: Arc<Mutex<HashMap<String, oneshot::Sender<String>>>>,
    ) -> &'static str {
        let counters = self.node.legacy_counters();
        loop {
            let text = match read_text(&mut stream, &mut reader, &mut buf).await {
                Ok(Some(text)) => text,
                Ok(None) => return "connection closed",
                Err(PyConnectError::TooLong { .. }) => {
                    bump(&counters.pyconnect_bad_input);
                    return "a frame over 512 bytes";
                }
                Err(err) => {
                    bump(&counters.pyconnect_bad_input);
                    tracing::debug!(%device, %err, "pythonConnect frame skipped");
                    continue;
                }
            };
            match PcFrame::parse(&text) {
                PcFrame::Message(text) => {
                    bump(&counters.pyconnect_messages_in);
                    self.node
                        .receive_from_proxied(device_id, device, Payload::from(text));
                }
                PcFrame::Question { key, text } => {
                    bump(&counters.pyconnect_questions_in);
                    let body = self
                        .node
                        .answer_for_proxied(device_id, device, Payload::from(text), ANSWER_TIMEOUT)
                        .await;
                    let answer = match body {
                        AnswerBody::Answered(payload) => {
                            String::from_utf8_lossy(payload.as_bytes()).into_owned()
                        }
                        // The old protocol has no failure: an empty answer is "no answer" to the device.
                        AnswerBody::Failed(_) | AnswerBody::NoAnswer(_) => String::new(),
                    };
                    let devices = lock(&self.devices);
                    let queued = devices.connected.get(device).map(|d| {
                        d.outgoing.try_send(Outgoing {
                            frame: PcFrame::Answer { key, text: answer },
                            answer: None,
                        })
                    });
                    if !matches!(queued, Some(Ok(()))) {
                        bump(&counters.pyconnect_dropped);
                        tracing::info!(%device, "answer to a pythonConnect device not queued");
                    }
                }
                PcFrame::Answer { key, text } => {
                    let waiting = pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                    match waiting {
                        Some(tx) => {
                            let _ = tx.send(text);
                        }
                        None => {
                            tracing::debug!(%device, %key, "answer to no question of ours; dropped")
                        }
                    }
                }
                PcFrame::Quit => return "the device quit",
                PcFrame::Ping | PcFrame::Other(_) => {
                    tracing::debug!(%device, "pythonConnect frame ignored");
                }
            }
        }
    }
}

/// The next frame's text, reading as needed; `Ok(None)` at the end of the stream.
async fn read_text<R: AsyncReadExt + Unpin>(
    stream: &mut R,
    reader: &mut PcFrameReader,
    buf: &mut [u8],
) -> Result<Option<String>, PyConnectError> {
    loop {
        if let Some(text) = reader.next_text()? {
            return Ok(Some(text));
        }
        match stream.read(buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(len) => reader.push(&buf[..len]),
        }
    }
}

/// A device name Herald can show: not empty, no control characters, no pythonConnect separator.
fn valid_name(name: &str) -> bool {
    !name.trim().is_empty() && !name.chars().any(char::is_control) && !name.contains(":,:")
}

/// Writes the device's frames one at a time (see the module doc); ends when the connection does.
async fn write_frames(
    mut stream: tokio::net::tcp::OwnedWriteHalf,
    mut queue: mpsc::Receiver<Outgoing>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<String>>>>,
    closed: CancellationToken,
) -> &'static str {
    while let Some(outgoing) = queue.recv().await {
        let bytes = match outgoing.frame.encode() {
            Ok(bytes) => bytes,
            // Checked when queued; a frame that cannot go is skipped.
            Err(_) => continue,
        };
        let question_key = match &outgoing.frame {
            PcFrame::Question { key, .. } => Some(key.clone()),
            _ => None,
        };
        let mut answered = None;
        if let (Some(key), Some((tx, timeout))) = (question_key.clone(), outgoing.answer) {
            let (inner_tx, inner_rx) = oneshot::channel();
            pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key, inner_tx);
            answered = Some((tx, inner_rx, timeout));
        }
        if stream.write_all(&bytes).await.is_err() {
            return "write failed";
        }
        match answered {
            // The device reads nothing until it has answered: the next frame waits for the answer.
            Some((tx, rx, timeout)) => {
                tokio::select! {
                    _ = closed.cancelled() => return "replaced by a new connection",
                    answer = tokio::time::timeout(timeout, rx) => {
                        if let Ok(Ok(text)) = answer {
                            let _ = tx.send(text);
                        }
                    }
                }
                if let Some(key) = question_key {
                    pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&key);
                }
            }
            None => tokio::time::sleep(FRAME_GAP).await,
        }
    }
    "queue closed"
}

/// A device as Herald's relaying sees it: messages and questions go to its connection's queue.
struct DeviceEndpoint {
    device: String,
    outgoing: mpsc::Sender<Outgoing>,
    node: std::sync::Weak<Node>,
}

impl DeviceEndpoint {
    fn queue(
        &self,
        frame: PcFrame,
        answer: Option<(oneshot::Sender<String>, Duration)>,
    ) -> Result<(), String> {
        let counters = self.node.upgrade();
        let count = |pick: fn(&crate::stats::LegacyCounters) -> &std::sync::atomic::AtomicU64| {
            if let Some(node) = &counters {
                bump(pick(node.legacy_counters()));
            }
        };
        if let Err(err) = frame.encode() {
            count(|c| &c.pyconnect_unsendable);
            return Err(format!("pythonConnect cannot carry it: {err}"));
        }
        match self.outgoing.try_send(Outgoing { frame, answer }) {
            Ok(()) => {
                count(|c| &c.pyconnect_frames_out);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                count(|c| &c.pyconnect_dropped);
                tracing::info!(device = %self.device, "pythonConnect device's queue is full; message refused");
                Err(format!(
                    "{} frames already wait for {}",
                    DEVICE_QUEUE, self.device
                ))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(format!("{} disconnected", self.device))
            }
        }
    }
}

impl ProxyEndpoint for DeviceEndpoint {
    fn deliver(&self, _from: &str, payload: Payload) -> Result<(), String> {
        let Some(text) = payload.as_text() else {
            return Err("pythonConnect carries text only (UTF-8)".into());
        };
        self.queue(PcFrame::Message(text.to_owned()), None)
    }

    fn ask(
        &self,
        _from: &str,
        question: Payload,
        timeout: Duration,
    ) -> Pin<Box<dyn std::future::Future<Output = AnswerBody> + Send>> {
        let Some(text) = question.as_text() else {
            return Box::pin(std::future::ready(AnswerBody::Failed(
                "pythonConnect carries text only (UTF-8)".into(),
            )));
        };
        let key = rand::random::<u16>() % 9999 + 1;
        let (tx, rx) = oneshot::channel();
        let frame = PcFrame::Question {
            key: key.to_string(),
            text: text.to_owned(),
        };
        if let Err(reason) = self.queue(frame, Some((tx, timeout))) {
            return Box::pin(std::future::ready(AnswerBody::Failed(reason)));
        }
        Box::pin(async move {
            match rx.await {
                Ok(text) => AnswerBody::Answered(Payload::from(text)),
                Err(_) => AnswerBody::Failed("no answer from the pythonConnect device".into()),
            }
        })
    }
}
