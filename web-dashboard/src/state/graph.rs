//! The network picture's layout, computed here (pure Rust, tested natively) and drawn as SVG by the
//! `network` view: one box per host address holding the nodes on it, this node's host in the middle and the
//! others on a ring around it; peers proxied by a gateway (legacy tools, DNS-SD services) drawn outside the
//! ring behind their gateway's box with a dashed tie; this node's open links drawn as edges with their traffic,
//! one edge per peer for both directions (the link this node opened to publish, send and ask, and the one the
//! peer opened to do the same to it), labelled `→ sent / ← received`.

use std::net::IpAddr;

use herald_core::bridge::{LinkDirection, LinkInfo, PeerInfo, PeerState};
use herald_core::NodeId;

use crate::num;

/// Width of a host's box.
pub const HOST_WIDTH: f64 = 150.0;
/// Height of one peer's line in a box.
pub const LINE_HEIGHT: f64 = 18.0;
/// Room above a box's first peer for the host address.
const HOST_HEADER: f64 = 18.0;
/// Ring radius for a few hosts; it grows with more.
const MIN_RADIUS: f64 = 170.0;
/// How far outside a gateway's box its proxied peers sit.
const PROXY_OFFSET: f64 = 110.0;
/// Margin around the drawing.
const MARGIN: f64 = 20.0;

/// A host address and the boxes' place.
#[derive(Debug, Clone, PartialEq)]
pub struct HostBox {
    /// The address the nodes share (or the gateway's name for proxied peers).
    pub label: String,
    /// Top-left corner.
    pub x: f64,
    /// Top-left corner.
    pub y: f64,
    /// Height (holds its peers).
    pub height: f64,
    /// Whether this is this node's host.
    pub own: bool,
}

/// One peer's place.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerSpot {
    /// Its id (the key of its SVG group).
    pub node_id: NodeId,
    /// Its name.
    pub name: String,
    /// Where its name's baseline starts.
    pub x: f64,
    /// Where its name's baseline starts.
    pub y: f64,
    /// Live, left or lost.
    pub state: PeerState,
    /// True for the node the bridge runs in.
    pub own: bool,
    /// True for a peer drawn behind its gateway.
    pub proxied: bool,
    /// Where its edges end (the middle of its line in its box).
    pub anchor: (f64, f64),
}

/// A line between two places.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// From (this node, or a gateway).
    pub from: (f64, f64),
    /// To (the peer).
    pub to: (f64, f64),
    /// What it stands for.
    pub kind: EdgeKind,
}

/// What an edge stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum EdgeKind {
    /// This node's open links with one peer, with their traffic.
    Link(LinkTraffic),
    /// A gateway proxying a peer.
    Proxy,
}

/// The traffic of this node's links with one peer: the link it opened, the one the peer opened, or both (a
/// pair of nodes that both publish has one each way), drawn as one edge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTraffic {
    /// Frames sent on the link this node opened; `None` without one.
    pub sent: Option<u64>,
    /// Frames received on the link the peer opened; `None` without one.
    pub received: Option<u64>,
    /// Frames waiting to be written on either now.
    pub queued: u64,
    /// Topic messages dropped on either because the other end read too slowly.
    pub dropped: u64,
}

impl LinkTraffic {
    fn add(&mut self, link: &LinkInfo) {
        match link.direction {
            LinkDirection::Outbound => *self.sent.get_or_insert(0) += link.sent,
            LinkDirection::Inbound => *self.received.get_or_insert(0) += link.received,
        }
        self.queued += link.queued;
        self.dropped += link.dropped;
    }

    /// The edge's label: `→ 12` (out), `← 40` (in) or `→ 12 / ← 40` (both ways).
    pub fn label(&self) -> String {
        match (self.sent, self.received) {
            (Some(sent), Some(received)) => format!("→ {sent} / ← {received}"),
            (Some(sent), None) => format!("→ {sent}"),
            (None, received) => format!("← {}", received.unwrap_or(0)),
        }
    }

    /// Which ways the links go: `out`, `in` or `both`.
    pub fn direction(&self) -> &'static str {
        match (self.sent, self.received) {
            (Some(_), Some(_)) => "both",
            (Some(_), None) => "out",
            (None, _) => "in",
        }
    }

    /// Frames both ways.
    pub fn frames(&self) -> u64 {
        self.sent.unwrap_or(0) + self.received.unwrap_or(0)
    }
}

/// The whole picture.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// The SVG viewBox's width.
    pub width: f64,
    /// The SVG viewBox's height.
    pub height: f64,
    /// Host boxes.
    pub hosts: Vec<HostBox>,
    /// Peers.
    pub peers: Vec<PeerSpot>,
    /// Links and proxy ties.
    pub edges: Vec<Edge>,
}

/// Lays out `own` (the bridge's node, if known) and `peers` (every peer in the table), with the proxy ties;
/// [`Layout::link_edges`] adds this node's links, which change every second, apart.
pub fn layout(own: Option<&PeerInfo>, peers: &[&PeerInfo]) -> Layout {
    let own_id = own.map(|o| o.node_id);
    // Direct peers by host address; proxied ones by gateway.
    let mut by_host: Vec<(IpAddr, Vec<&PeerInfo>)> = Vec::new();
    let mut by_gateway: Vec<(NodeId, Vec<&PeerInfo>)> = Vec::new();
    // This node once, even if the table lists it too.
    let others = peers.iter().copied().filter(|p| Some(p.node_id) != own_id);
    for peer in own.into_iter().chain(others) {
        match peer.via {
            Some(gateway) if gateway != peer.node_id => add_to(&mut by_gateway, gateway, peer),
            _ => add_to(&mut by_host, peer.addr, peer),
        }
    }
    let own_host = own.map(|o| o.addr);
    let ring: Vec<&(IpAddr, Vec<&PeerInfo>)> = by_host
        .iter()
        .filter(|(addr, _)| Some(*addr) != own_host)
        .collect();
    let tallest = by_host
        .iter()
        .map(|(_, members)| members.len())
        .max()
        .unwrap_or(1) as f64;
    // The ring is wide enough that neighbouring boxes do not overlap.
    let radius = MIN_RADIUS
        .max(ring.len() as f64 * (HOST_WIDTH + 20.0) / std::f64::consts::TAU)
        .max(box_height(tallest as usize));
    let outer = radius + PROXY_OFFSET + HOST_WIDTH;
    let (cx, cy) = (outer + MARGIN, outer + MARGIN);
    let out = Layout {
        width: 2.0 * (outer + MARGIN),
        height: 2.0 * (outer + MARGIN),
        ..Layout::default()
    };
    let mut drawing = Drawing {
        out,
        own_id,
        places: Vec::new(),
    };
    if let Some((host, members)) = by_host.iter().find(|(addr, _)| Some(*addr) == own_host) {
        drawing.place_box(host.to_string(), (cx, cy), members, (true, false), 0.0);
    }
    for (i, (addr, members)) in ring.iter().enumerate() {
        let angle =
            -std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * i as f64 / ring.len() as f64;
        let centre = (cx + radius * num::cos(angle), cy + radius * num::sin(angle));
        drawing.place_box(addr.to_string(), centre, members, (false, false), angle);
    }
    // Proxied peers: outside the ring, on their gateway's ray (or at the top for an unknown gateway).
    for (gateway, members) in &by_gateway {
        let angle = drawing
            .angle(gateway)
            .unwrap_or(-std::f64::consts::FRAC_PI_2);
        let distance = if drawing.place(gateway).is_some() && Some(*gateway) != own_id {
            radius + PROXY_OFFSET
        } else {
            PROXY_OFFSET + box_height(members.len())
        };
        let centre = (
            cx + distance * num::cos(angle),
            cy + distance * num::sin(angle),
        );
        let label = match members.first() {
            Some(first) => format!("via {}", first.addr),
            None => String::new(),
        };
        drawing.place_box(label, centre, members, (false, true), angle);
        if let Some(from) = drawing.place(gateway) {
            for peer in members {
                let Some(to) = drawing.place(&peer.node_id) else {
                    continue;
                };
                drawing.out.edges.push(Edge {
                    from,
                    to,
                    kind: EdgeKind::Proxy,
                });
            }
        }
    }
    drawing.out.crop();
    drawing.out
}

impl Layout {
    /// This node's open `links` as edges from `own` to each linked peer drawn here, one per peer whichever
    /// side opened them.
    pub fn link_edges(&self, own: NodeId, links: &[LinkInfo]) -> Vec<Edge> {
        let anchor = |id: &NodeId| {
            self.peers
                .iter()
                .find(|spot| spot.node_id == *id)
                .map(|spot| spot.anchor)
        };
        let Some(from) = anchor(&own) else {
            return Vec::new();
        };
        // Per peer, in the order pushed (a list, not a map: see `Drawing::places`).
        let mut per_peer: Vec<(NodeId, LinkTraffic)> = Vec::new();
        for link in links {
            match per_peer.iter_mut().find(|(peer, _)| *peer == link.peer) {
                Some((_, traffic)) => traffic.add(link),
                None => {
                    let mut traffic = LinkTraffic::default();
                    traffic.add(link);
                    per_peer.push((link.peer, traffic));
                }
            }
        }
        per_peer
            .into_iter()
            .filter_map(|(peer, traffic)| {
                Some(Edge {
                    from,
                    to: anchor(&peer)?,
                    kind: EdgeKind::Link(traffic),
                })
            })
            .collect()
    }

    /// Moves everything so the drawing starts at the margin and ends at its last box (a LAN on one host is a
    /// small picture, not one box in the middle of an empty ring).
    fn crop(&mut self) {
        if self.hosts.is_empty() {
            return;
        }
        let (mut min_x, mut min_y) = (f64::MAX, f64::MAX);
        let (mut max_x, mut max_y) = (f64::MIN, f64::MIN);
        for host in &self.hosts {
            min_x = min_x.min(host.x);
            min_y = min_y.min(host.y);
            max_x = max_x.max(host.x + HOST_WIDTH);
            max_y = max_y.max(host.y + host.height);
        }
        let (dx, dy) = (MARGIN - min_x, MARGIN - min_y);
        for host in &mut self.hosts {
            host.x += dx;
            host.y += dy;
        }
        for peer in &mut self.peers {
            peer.x += dx;
            peer.y += dy;
            peer.anchor = (peer.anchor.0 + dx, peer.anchor.1 + dy);
        }
        for edge in &mut self.edges {
            edge.from = (edge.from.0 + dx, edge.from.1 + dy);
            edge.to = (edge.to.0 + dx, edge.to.1 + dy);
        }
        self.width = max_x - min_x + 2.0 * MARGIN;
        self.height = max_y - min_y + 2.0 * MARGIN;
    }
}

/// A layout being drawn: where each peer went (for edges) and on which ray (for its proxied peers).
struct Drawing {
    out: Layout,
    own_id: Option<NodeId>,
    /// Each peer's anchor for edges and the angle of its ray (a list, not a map: a map type costs the wasm
    /// its own copy of the map's code, and a LAN's peers are few).
    places: Vec<(NodeId, (f64, f64), f64)>,
}

/// Adds `peer` to `key`'s group, keeping the groups sorted by key.
fn add_to<'a, K: Ord + Copy>(groups: &mut Vec<(K, Vec<&'a PeerInfo>)>, key: K, peer: &'a PeerInfo) {
    match groups.binary_search_by(|(k, _)| k.cmp(&key)) {
        Ok(i) => groups[i].1.push(peer),
        Err(i) => groups.insert(i, (key, vec![peer])),
    }
}

impl Drawing {
    /// Where `id` was placed.
    fn place(&self, id: &NodeId) -> Option<(f64, f64)> {
        self.places
            .iter()
            .find(|(n, _, _)| n == id)
            .map(|(_, at, _)| *at)
    }

    /// The ray `id` was placed on.
    fn angle(&self, id: &NodeId) -> Option<f64> {
        self.places
            .iter()
            .find(|(n, _, _)| n == id)
            .map(|(_, _, a)| *a)
    }

    /// A box centred at `centre` holding `members`; `(own, proxied)` say what sort of box it is.
    fn place_box(
        &mut self,
        label: String,
        centre: (f64, f64),
        members: &[&PeerInfo],
        (own, proxied): (bool, bool),
        angle: f64,
    ) {
        let height = box_height(members.len());
        let (x, y) = (centre.0 - HOST_WIDTH / 2.0, centre.1 - height / 2.0);
        self.out.hosts.push(HostBox {
            label,
            x,
            y,
            height,
            own,
        });
        for (i, peer) in members.iter().enumerate() {
            let baseline = y + HOST_HEADER + LINE_HEIGHT * (i as f64 + 0.8);
            self.out.peers.push(PeerSpot {
                node_id: peer.node_id,
                name: peer.name.clone(),
                x: x + 8.0,
                y: baseline,
                state: peer.state,
                own: self.own_id == Some(peer.node_id),
                proxied,
                anchor: (x + HOST_WIDTH / 2.0, baseline - 4.0),
            });
            self.places
                .push((peer.node_id, (x + HOST_WIDTH / 2.0, baseline - 4.0), angle));
        }
    }
}

/// The height of a box of `n` peers.
fn box_height(n: usize) -> f64 {
    HOST_HEADER + LINE_HEIGHT * n as f64 + 6.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::peers::tests::peer;

    #[test]
    fn peers_group_by_host_proxied_ones_sit_behind_their_gateway_and_links_are_edges() {
        let hub = peer("hub", "10.0.0.1", PeerState::Live, 1);
        let alpha = peer("alpha", "10.0.0.2", PeerState::Live, 1);
        let mut alpha2 = peer("alpha-two", "10.0.0.2", PeerState::Live, 1);
        alpha2.node_id = NodeId::from_bytes([42; 16]);
        let mut device = peer("zulu", "10.0.0.9", PeerState::Live, 1);
        device.node_id = NodeId::from_bytes([43; 16]);
        device.via = Some(alpha.node_id);
        let gone = peer("gone-peer", "10.0.0.3", PeerState::Lost, 1);
        let links = [outbound(alpha.node_id, 12)];
        let all = [&hub, &alpha, &alpha2, &device, &gone];
        let layout = layout(Some(&hub), &all);
        // hub once, the others once each.
        assert_eq!(layout.peers.len(), 5);
        let labels: Vec<&str> = layout.hosts.iter().map(|h| h.label.as_str()).collect();
        assert_eq!(labels, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "via 10.0.0.9"]);
        assert!(layout.hosts[0].own);
        // Two nodes share 10.0.0.2's box.
        assert!(layout.hosts[1].height > layout.hosts[2].height);
        let proxy = layout.peers.iter().find(|p| p.name == "zulu").unwrap();
        assert!(proxy.proxied);
        let kinds: Vec<&EdgeKind> = layout.edges.iter().map(|e| &e.kind).collect();
        assert_eq!(kinds, [&EdgeKind::Proxy]);
        let links = layout.link_edges(hub.node_id, &links);
        assert_eq!(links.len(), 1);
        assert!(matches!(&links[0].kind, EdgeKind::Link(link) if link.label() == "→ 12"));
        assert_eq!(
            links[0].to,
            layout
                .peers
                .iter()
                .find(|p| p.name == "alpha")
                .unwrap()
                .anchor
        );
        // Everything is inside the drawing.
        for spot in &layout.peers {
            assert!(spot.x >= 0.0 && spot.x < layout.width, "{spot:?}");
            assert!(spot.y >= 0.0 && spot.y < layout.height, "{spot:?}");
        }
    }

    fn outbound(peer: NodeId, sent: u64) -> LinkInfo {
        LinkInfo {
            peer,
            sent,
            queued: 0,
            dropped: 0,
            direction: LinkDirection::Outbound,
            received: 0,
        }
    }

    fn inbound(peer: NodeId, received: u64) -> LinkInfo {
        LinkInfo {
            sent: 1,
            direction: LinkDirection::Inbound,
            received,
            ..outbound(peer, 0)
        }
    }

    #[test]
    fn a_link_a_peer_opened_is_an_edge_and_both_ways_are_one_edge() {
        let hub = peer("hub", "10.0.0.1", PeerState::Live, 1);
        let alpha = peer("alpha", "10.0.0.2", PeerState::Live, 1);
        let mut bravo = peer("bravo", "10.0.0.3", PeerState::Live, 1);
        bravo.node_id = NodeId::from_bytes([42; 16]);
        let layout = layout(Some(&hub), &[&alpha, &bravo]);
        // bravo only publishes to the hub: an inbound link, an edge all the same.
        let edges = layout.link_edges(hub.node_id, &[inbound(bravo.node_id, 40)]);
        assert_eq!(edges.len(), 1);
        let EdgeKind::Link(traffic) = &edges[0].kind else {
            panic!("a link edge: {edges:?}");
        };
        assert_eq!(
            (traffic.label().as_str(), traffic.direction()),
            ("← 40", "in")
        );
        let bravo_spot = layout.peers.iter().find(|p| p.name == "bravo").unwrap();
        assert_eq!(edges[0].to, bravo_spot.anchor);
        // alpha and the hub both publish: two links, one edge with both directions' traffic.
        let links = [
            outbound(alpha.node_id, 12),
            inbound(bravo.node_id, 40),
            inbound(alpha.node_id, 7),
        ];
        let edges = layout.link_edges(hub.node_id, &links);
        let labels: Vec<(String, &str)> = edges
            .iter()
            .map(|e| match &e.kind {
                EdgeKind::Link(traffic) => (traffic.label(), traffic.direction()),
                EdgeKind::Proxy => panic!("no proxy here"),
            })
            .collect();
        assert_eq!(
            labels,
            [("→ 12 / ← 7".to_owned(), "both"), ("← 40".to_owned(), "in")]
        );
    }

    #[test]
    fn without_the_node_known_peers_still_get_their_boxes() {
        let alpha = peer("alpha", "10.0.0.2", PeerState::Live, 1);
        let layout = layout(None, &[&alpha]);
        assert_eq!(layout.peers.len(), 1);
        assert!(layout.edges.is_empty());
    }

    #[test]
    fn a_lan_on_one_host_is_a_small_picture() {
        let hub = peer("hub", "10.0.0.1", PeerState::Live, 1);
        let mut alpha = peer("alpha", "10.0.0.1", PeerState::Live, 1);
        alpha.node_id = NodeId::from_bytes([42; 16]);
        let layout = layout(Some(&hub), &[&alpha]);
        assert_eq!(layout.hosts.len(), 1);
        assert_eq!((layout.hosts[0].x, layout.hosts[0].y), (MARGIN, MARGIN));
        assert_eq!(layout.width, HOST_WIDTH + 2.0 * MARGIN);
    }
}
