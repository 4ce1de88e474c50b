//! The bridge's HTTP server: the dashboard's static files at `/` (what to serve is `dashboard`'s), the
//! WebSocket at `/ws` (each upgraded connection handed to `client`), counters at `/metrics`; and [`Bridge`],
//! the handle the node holds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures::StreamExt;
use herald_core::bridge::{BridgeEvent, Stats};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::services::{ServeDir, ServeFile};

use crate::access::{Access, Refusal};
use crate::client::{self, ClientContext};
use crate::commands::ToNode;
use crate::config::{BridgeConfig, MAX_WRITE_BUFFER, READ_BUFFER, TO_NODE_CAPACITY};
use crate::counters::bump;
use crate::dashboard;
use crate::hub::{Audience, Hub};
use crate::metrics;

/// Why a bridge did not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// Only loopback may go without a token.
    #[error("the bridge listens on {0}, not loopback: an access token is required (--bridge-token-file)")]
    TokenRequired(SocketAddr),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

#[derive(Clone)]
struct AppState {
    hub: Arc<Hub>,
    access: Arc<Access>,
    config: Arc<BridgeConfig>,
    to_node: mpsc::Sender<ToNode>,
    shutdown: CancellationToken,
    /// The server task and every client's tasks: [`Bridge::shutdown`] waits for all of them.
    tasks: TaskTracker,
}

/// A running bridge. Cheap to clone.
#[derive(Clone)]
pub struct Bridge {
    hub: Arc<Hub>,
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl Bridge {
    /// Binds `config.listen` and serves. Returns the handle and the requests the node must answer.
    pub async fn start(
        config: BridgeConfig,
    ) -> Result<(Bridge, mpsc::Receiver<ToNode>), BridgeError> {
        if !config.listen.ip().is_loopback() && config.token.is_none() {
            return Err(BridgeError::TokenRequired(config.listen));
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| BridgeError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| BridgeError::Bind {
            addr: config.listen,
            source,
        })?;
        let hub = Arc::new(Hub::new(
            config.client_queue,
            config.max_clients,
            config.lag_limit,
        ));
        let (to_node, requests) = mpsc::channel(TO_NODE_CAPACITY);
        let shutdown = CancellationToken::new();
        let access = Access::new(
            local_addr,
            config.token.clone(),
            config.allowed_origins.clone(),
        );
        let dashboard = config.dashboard_dir.clone();
        let assets = config.assets;
        match (&dashboard, assets.is_empty()) {
            (Some(dir), _) => {
                tracing::info!(%local_addr, dashboard = %dir.display(), "bridge serving")
            }
            (None, false) => {
                tracing::info!(%local_addr, files = assets.len(), "bridge serving the embedded dashboard")
            }
            (None, true) => {
                tracing::warn!(%local_addr, "bridge serving without a dashboard: this binary was built without one")
            }
        }
        let tasks = TaskTracker::new();
        let state = AppState {
            hub: hub.clone(),
            access: Arc::new(access),
            config: Arc::new(config),
            to_node,
            shutdown: shutdown.clone(),
            tasks: tasks.clone(),
        };
        let router = Router::new()
            .route("/ws", get(upgrade))
            .route("/metrics", get(metrics_page));
        let router = match dashboard {
            Some(dir) => router.fallback_service(
                ServeDir::new(&dir).fallback(ServeFile::new(dir.join("index.html"))),
            ),
            None if !assets.is_empty() => router.fallback(
                move |method: Method, uri: Uri, headers: HeaderMap| async move {
                    dashboard::serve(assets, &method, &uri, &headers)
                },
            ),
            None => router.fallback(dashboard::not_built),
        };
        let router = router.with_state(state);
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            // Events are small and latency matters: no Nagle delay (writes are batched already).
            let listener = listener.tap_io(|tcp| {
                if let Err(err) = tcp.set_nodelay(true) {
                    tracing::debug!(%err, "cannot set TCP_NODELAY on a bridge connection");
                }
            });
            let served = axum::serve(listener, service)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(err) = served {
                tracing::error!(%err, "bridge server failed");
            }
        });
        tasks.close();
        Ok((
            Bridge {
                hub,
                local_addr,
                shutdown,
                tasks,
            },
            requests,
        ))
    }

    /// The address served (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sends `event` to its audience. Never waits: a client whose queue is full misses it (counted, told).
    pub fn emit(&self, audience: &Audience, event: &BridgeEvent) {
        self.hub.emit(audience, event);
    }

    /// The recent events sent to every client (peer, message, IP and error events; at most
    /// [`crate::config::RECENT_EVENTS`]), oldest first: the bridge's own memory, for the node to put in a new
    /// client's snapshot.
    pub fn recent(&self) -> Vec<BridgeEvent> {
        self.hub.recent()
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.hub.client_count()
    }

    /// The bridge's counters (`bridge.*`).
    pub fn stats(&self) -> Stats {
        self.hub
            .counters
            .snapshot(self.hub.client_count(), self.hub.queued())
    }

    /// Closes every client (code 1001) and stops serving; waits for the server to finish.
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = state.access.check_upgrade(
        header(header::ORIGIN),
        header(header::HOST),
        query.get("token").map(String::as_str),
    );
    if let Err(refusal) = checked {
        return refuse(&state, peer, refusal);
    }
    if state.hub.is_full() {
        tracing::warn!(%peer, "bridge client refused: too many clients");
        return (StatusCode::SERVICE_UNAVAILABLE, "too many clients\n").into_response();
    }
    let context = ClientContext {
        hub: state.hub.clone(),
        to_node: state.to_node.clone(),
        config: state.config.clone(),
        shutdown: state.shutdown.clone(),
        tasks: state.tasks.clone(),
    };
    let tasks = state.tasks.clone();
    upgrade
        .max_message_size(state.config.max_message)
        .max_frame_size(state.config.max_message)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .read_buffer_size(READ_BUFFER)
        .on_failed_upgrade(|err| tracing::debug!(%err, "bridge upgrade failed"))
        .on_upgrade(move |socket| {
            let (sink, stream) = socket.split();
            tasks.track_future(client::serve(sink, stream, context))
        })
}

fn refuse(state: &AppState, peer: SocketAddr, refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::Token => {
            bump(&state.hub.counters.refused_token);
            StatusCode::UNAUTHORIZED
        }
        Refusal::Origin(_) => {
            bump(&state.hub.counters.refused_origin);
            StatusCode::FORBIDDEN
        }
    };
    tracing::info!(%peer, %refusal, "bridge request refused");
    (status, format!("{refusal}\n")).into_response()
}

async fn metrics_page(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Err(refusal) = state
        .access
        .check_token(query.get("token").map(String::as_str))
    {
        return refuse(&state, peer, refusal);
    }
    let (reply, rx) = oneshot::channel();
    let mut stats = match state.to_node.send(ToNode::Stats { reply }).await {
        Ok(()) => rx.await.unwrap_or_default(),
        Err(_) => Stats::default(),
    };
    let hub = &state.hub;
    stats.counters.extend(
        hub.counters
            .snapshot(hub.client_count(), hub.queued())
            .counters,
    );
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&stats),
    )
        .into_response()
}
