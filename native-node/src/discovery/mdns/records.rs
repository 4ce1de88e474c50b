//! The sans-IO half of DNS-SD: what a node announces (its `_herald._tcp` record and one `_NAME._tcp` record per
//! named service whose name is a valid service type), and the book of services found by browsing, which maps
//! each resolved instance to a proxied peer of kind `mdns` (one per instance name and host, its services merged
//! across the types browsed).
//!
//! Nothing here touches a socket or the clock: the daemon glue (`daemon`, feature `mdns`) feeds it resolved and
//! removed services and applies the [`Change`]s it hands back.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use herald_core::{NodeId, PeerKind};
use sha2::{Digest, Sha256};

use crate::proxies::ProxiedPeer;

/// The DNS-SD type a Herald node announces itself under.
pub const HERALD_TYPE: &str = "_herald._tcp.local.";

/// TXT key carrying the announcing node's id: a service with it is a Herald node's own (a peer by itself), and
/// browsing never proxies it.
pub const TXT_NODE_ID: &str = "herald-id";

/// Most instances one node proxies from DNS-SD; beyond it new ones are refused (counted, logged).
pub const MAX_BROWSED: usize = 256;

/// Longest service name in a service type (RFC 6335: 1 to 15 characters).
pub const MAX_SERVICE_NAME: usize = 15;

/// Why a `--mdns-browse` value is not a service type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// Not `_NAME._tcp` or `_NAME._udp` (with an optional `.local.`).
    #[error("{0:?} is not a DNS-SD service type such as `_http._tcp` or `_ipp._tcp`")]
    Malformed(String),
    /// The NAME part breaks RFC 6335 (1 to 15 letters, digits and single hyphens, at least one letter).
    #[error(
        "{0:?}: a service name is 1 to 15 letters, digits and single inner hyphens, with a letter"
    )]
    BadName(String),
}

/// True when `name` can be a DNS-SD service name (the `NAME` of `_NAME._tcp`): RFC 6335's rules.
pub fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVICE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_alphabetic())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Reads a browse type (`_ipp._tcp`, `_ipp._tcp.local`, `_ipp._tcp.local.`) into mDNS's full form
/// (`_ipp._tcp.local.`).
pub fn browse_type(text: &str) -> Result<String, TypeError> {
    let malformed = || TypeError::Malformed(text.to_owned());
    let trimmed = text.trim().trim_end_matches('.');
    let trimmed = trimmed.strip_suffix(".local").unwrap_or(trimmed);
    let (name, protocol) = trimmed.rsplit_once('.').ok_or_else(malformed)?;
    if protocol != "_tcp" && protocol != "_udp" {
        return Err(malformed());
    }
    let name = name.strip_prefix('_').ok_or_else(malformed)?;
    if !is_service_name(name) {
        return Err(TypeError::BadName(name.to_owned()));
    }
    Ok(format!("_{name}.{protocol}.local."))
}

/// The service name of a full type: `ipp` for `_ipp._tcp.local.`.
pub fn service_name(ty_domain: &str) -> &str {
    let name = ty_domain.split('.').next().unwrap_or(ty_domain);
    name.strip_prefix('_').unwrap_or(name)
}

/// One DNS-SD service this node announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// Full type, `_herald._tcp.local.` or `_NAME._tcp.local.`.
    pub ty_domain: String,
    /// Instance name: the node's name.
    pub instance: String,
    /// The port the service listens on.
    pub port: u16,
    /// TXT records, key to value.
    pub txt: BTreeMap<String, String>,
}

impl Announcement {
    /// The instance's full name as mDNS has it (`alpha._herald._tcp.local.`, dots in the name escaped).
    pub fn fullname(&self) -> String {
        let escaped = self.instance.replace('\\', "\\\\").replace('.', "\\.");
        format!("{escaped}.{}", self.ty_domain)
    }
}

/// What a node announces: `_herald._tcp` with its name, id and link port in TXT (when it takes links), and
/// each service whose name is a valid service type as `_NAME._tcp` at its port. Returns the announcements
/// and the service names left out.
pub fn announcements(
    name: &str,
    id: NodeId,
    link_port: u16,
    services: &BTreeMap<String, u16>,
) -> (Vec<Announcement>, Vec<String>) {
    let txt = |extra: &[(&str, String)]| -> BTreeMap<String, String> {
        let mut txt: BTreeMap<String, String> = [
            (TXT_NODE_ID.to_owned(), id.to_string()),
            ("name".to_owned(), name.to_owned()),
        ]
        .into();
        txt.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        txt
    };
    let mut out = Vec::new();
    if link_port != 0 {
        out.push(Announcement {
            ty_domain: HERALD_TYPE.to_owned(),
            instance: name.to_owned(),
            port: link_port,
            txt: txt(&[
                ("port", link_port.to_string()),
                ("ver", herald_core::PROTOCOL_VERSION.to_string()),
            ]),
        });
    }
    let mut skipped = Vec::new();
    for (service, port) in services {
        if is_service_name(service) && service != "herald" {
            out.push(Announcement {
                ty_domain: format!("_{service}._tcp.local."),
                instance: name.to_owned(),
                port: *port,
                txt: txt(&[]),
            });
        } else {
            skipped.push(service.clone());
        }
    }
    (out, skipped)
}

/// A service instance resolved by browsing, as the daemon reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Its full type (`_ipp._tcp.local.`).
    pub ty_domain: String,
    /// Its full name (`printer._ipp._tcp.local.`).
    pub fullname: String,
    /// The host it is on (`h1.local.`).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The host's addresses.
    pub addrs: Vec<IpAddr>,
    /// Its TXT records.
    pub txt: BTreeMap<String, String>,
}

impl Resolved {
    /// The instance name: the full name less its type, unescaped (`printer`).
    pub fn instance(&self) -> String {
        let escaped = self
            .fullname
            .strip_suffix(&self.ty_domain)
            .map(|s| s.strip_suffix('.').unwrap_or(s))
            .unwrap_or(&self.fullname);
        let mut out = String::with_capacity(escaped.len());
        let mut chars = escaped.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        out
    }
}

/// What the glue must do to the node's proxied peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Proxy (or update) the peer `id`.
    Proxy {
        /// Its id (see [`mdns_id`]).
        id: NodeId,
        /// The peer as the LAN sees it, its TXT records merged across its services (a key two services
        /// both have takes the value of the one whose full name sorts last).
        peer: ProxiedPeer,
    },
    /// Stop proxying the peer `id`: its last service is gone.
    Unproxy {
        /// Its id.
        id: NodeId,
        /// Its name.
        name: String,
    },
}

/// Why a resolved service was not proxied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// A Herald node's own announcement (TXT `herald-id`): that node is a peer by itself.
    #[error("a Herald node's own announcement")]
    Herald,
    /// No address was resolved.
    #[error("no address")]
    NoAddress,
    /// [`MAX_BROWSED`] instances are proxied already.
    #[error("{0} DNS-SD instances are proxied already")]
    Full(usize),
}

/// The node id of the DNS-SD instance `instance` on `host`: the first 16 bytes of SHA-256("mdns", instance,
/// host), the same on every node that browses it, so it is one peer however many nodes browse it.
pub fn mdns_id(instance: &str, host: &str) -> NodeId {
    let mut hash = Sha256::new();
    hash.update(b"mdns\0");
    hash.update(instance.as_bytes());
    hash.update([0]);
    hash.update(host.to_ascii_lowercase().as_bytes());
    let digest = hash.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    NodeId(id)
}

/// The key of a proxied instance: its instance name and host.
type Key = (String, String);

struct Entry {
    name: String,
    addr: IpAddr,
    /// Full name to (service name, port, TXT).
    services: BTreeMap<String, (String, u16, BTreeMap<String, String>)>,
}

/// The services found by browsing, grouped into peers (one per instance name and host).
#[derive(Default)]
pub struct Browsed {
    entries: BTreeMap<Key, Entry>,
    by_fullname: HashMap<String, Key>,
}

impl Browsed {
    /// How many peers it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A service was resolved (or resolved again, perhaps at a new address or port): the peer to proxy, after
    /// the change to the peer it belonged to when it moved from another host.
    pub fn resolved(&mut self, service: Resolved) -> Result<Vec<Change>, Skip> {
        if service.txt.contains_key(TXT_NODE_ID) {
            return Err(Skip::Herald);
        }
        // IPv4 first: Herald nodes and their links are IPv4.
        let addr = service
            .addrs
            .iter()
            .copied()
            .min_by_key(|a| (a.is_ipv6(), *a))
            .ok_or(Skip::NoAddress)?;
        let instance = service.instance();
        let key = (instance.clone(), service.host.to_ascii_lowercase());
        if !self.entries.contains_key(&key) && self.entries.len() >= MAX_BROWSED {
            return Err(Skip::Full(MAX_BROWSED));
        }
        let mut changes = Vec::new();
        // The same full name may have moved to another host: it leaves the old peer first.
        if let Some(old) = self.by_fullname.get(&service.fullname) {
            if *old != key {
                let old = old.clone();
                changes.extend(self.drop_service(&old, &service.fullname));
            }
        }
        if !self.entries.contains_key(&key) {
            let name = self.free_name(&instance, &key.1);
            self.entries.insert(
                key.clone(),
                Entry {
                    name,
                    addr,
                    services: BTreeMap::new(),
                },
            );
        }
        let entry = self.entries.get_mut(&key).expect("inserted above");
        entry.addr = addr;
        entry.services.insert(
            service.fullname.clone(),
            (
                service_name(&service.ty_domain).to_owned(),
                service.port,
                service.txt,
            ),
        );
        self.by_fullname.insert(service.fullname, key.clone());
        changes.push(self.proxy_change(&key));
        Ok(changes)
    }

    /// A service was withdrawn or its records expired: the peer updated, or gone with its last service.
    pub fn removed(&mut self, fullname: &str) -> Option<Change> {
        let key = self.by_fullname.get(fullname)?.clone();
        self.drop_service(&key, fullname)
    }

    /// Removes the service `fullname` of the peer `key`; the change that follows.
    fn drop_service(&mut self, key: &Key, fullname: &str) -> Option<Change> {
        self.by_fullname.remove(fullname);
        let entry = self.entries.get_mut(key)?;
        entry.services.remove(fullname);
        if entry.services.is_empty() {
            let entry = self.entries.remove(key)?;
            return Some(Change::Unproxy {
                id: mdns_id(&key.0, &key.1),
                name: entry.name,
            });
        }
        Some(self.proxy_change(key))
    }

    fn proxy_change(&self, key: &Key) -> Change {
        let entry = &self.entries[key];
        let mut services = BTreeMap::new();
        let mut txt = BTreeMap::new();
        for (name, port, records) in entry.services.values() {
            services.insert(name.clone(), *port);
            txt.extend(records.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Change::Proxy {
            id: mdns_id(&key.0, &key.1),
            peer: ProxiedPeer {
                name: entry.name.clone(),
                kind: PeerKind::Mdns,
                addr: entry.addr,
                services,
                site: None,
                txt,
            },
        }
    }

    /// The instance name, or `instance@host` when another host's instance has that name already.
    fn free_name(&self, instance: &str, host: &str) -> String {
        if self.entries.values().any(|e| e.name == instance) {
            format!("{instance}@{}", host.trim_end_matches('.'))
        } else {
            instance.to_owned()
        }
    }
}

/// What to change in the announced services to reach `wanted` from `current` (both by full name): the ones to
/// (re)register, and the full names to withdraw.
pub fn plan(
    current: &BTreeMap<String, Announcement>,
    wanted: &[Announcement],
) -> (Vec<Announcement>, Vec<String>) {
    let register = wanted
        .iter()
        .filter(|a| current.get(&a.fullname()) != Some(a))
        .cloned()
        .collect();
    let withdraw = current
        .keys()
        .filter(|name| !wanted.iter().any(|a| &a.fullname() == *name))
        .cloned()
        .collect();
    (register, withdraw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(ty: &str, host: &str, port: u16) -> Resolved {
        Resolved {
            ty_domain: ty.into(),
            fullname: format!("printer.{ty}"),
            host: host.into(),
            port,
            addrs: vec!["fe80::1".parse().unwrap(), "198.51.100.11".parse().unwrap()],
            txt: [("rp".to_owned(), "ipp/print".to_owned())].into(),
        }
    }

    /// The one change of `changes`, a peer to proxy.
    fn proxied(
        changes: Result<Vec<Change>, Skip>,
    ) -> (NodeId, ProxiedPeer, BTreeMap<String, String>) {
        match changes.as_deref() {
            Ok([Change::Proxy { id, peer }]) => (*id, peer.clone(), peer.txt.clone()),
            other => panic!("not one peer to proxy: {other:?}"),
        }
    }

    #[test]
    fn service_names_follow_rfc_6335() {
        for good in ["http", "ipp", "a", "web-ui", "x1", "abcdefghijklmno"] {
            assert!(is_service_name(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "123",
            "abcdefghijklmnop",
            "web_ui",
            "a.b",
            "é",
        ] {
            assert!(!is_service_name(bad), "{bad}");
        }
    }

    #[test]
    fn browse_types_read_in_every_common_spelling() {
        for text in [
            "_ipp._tcp",
            "_ipp._tcp.local",
            "_ipp._tcp.local.",
            " _ipp._tcp ",
        ] {
            assert_eq!(browse_type(text).unwrap(), "_ipp._tcp.local.", "{text}");
        }
        assert_eq!(browse_type("_dns-sd._udp").unwrap(), "_dns-sd._udp.local.");
        assert!(matches!(browse_type("ipp"), Err(TypeError::Malformed(_))));
        assert!(matches!(
            browse_type("ipp._tcp"),
            Err(TypeError::Malformed(_))
        ));
        assert!(matches!(
            browse_type("_ipp._sctp"),
            Err(TypeError::Malformed(_))
        ));
        assert!(matches!(
            browse_type("_a--b._tcp"),
            Err(TypeError::BadName(_))
        ));
        assert_eq!(service_name("_ipp._tcp.local."), "ipp");
    }

    #[test]
    fn a_node_announces_itself_and_its_valid_services() {
        let id = NodeId([7; 16]);
        let services = [
            ("web".to_owned(), 8080),
            ("my_service".to_owned(), 9000),
            ("dynip".to_owned(), 28630),
        ]
        .into();
        let (out, skipped) = announcements("alpha.lab", id, 7400, &services);
        assert_eq!(skipped, vec!["my_service".to_owned()]);
        let types: Vec<&str> = out.iter().map(|a| a.ty_domain.as_str()).collect();
        assert_eq!(
            types,
            [
                "_herald._tcp.local.",
                "_dynip._tcp.local.",
                "_web._tcp.local."
            ]
        );
        let herald = &out[0];
        assert_eq!(herald.port, 7400);
        assert_eq!(herald.txt["name"], "alpha.lab");
        assert_eq!(herald.txt["port"], "7400");
        assert_eq!(herald.txt[TXT_NODE_ID], id.to_string());
        assert_eq!(herald.fullname(), "alpha\\.lab._herald._tcp.local.");
        assert!(out.iter().all(|a| a.txt[TXT_NODE_ID] == id.to_string()));
        // A node that takes no links announces only its services.
        let (out, _) = announcements("cli", id, 0, &services);
        assert!(out.iter().all(|a| a.ty_domain != HERALD_TYPE));
    }

    #[test]
    fn plans_register_what_changed_and_withdraw_what_went() {
        let services: BTreeMap<String, u16> = [("web".to_owned(), 8080)].into();
        let (wanted, _) = announcements("alpha", NodeId([1; 16]), 7400, &services);
        let (register, withdraw) = plan(&BTreeMap::new(), &wanted);
        assert_eq!((register.len(), withdraw.len()), (2, 0));
        let current: BTreeMap<String, Announcement> =
            wanted.iter().map(|a| (a.fullname(), a.clone())).collect();
        assert_eq!(plan(&current, &wanted), (vec![], vec![]));
        let moved: BTreeMap<String, u16> = [("ui".to_owned(), 8081)].into();
        let (wanted, _) = announcements("alpha", NodeId([1; 16]), 7400, &moved);
        let (register, withdraw) = plan(&current, &wanted);
        assert_eq!(register.len(), 1);
        assert_eq!(register[0].ty_domain, "_ui._tcp.local.");
        assert_eq!(withdraw, vec!["alpha._web._tcp.local.".to_owned()]);
    }

    #[test]
    fn an_instance_becomes_one_peer_with_its_services_merged() {
        let mut book = Browsed::default();
        let (id, peer, txt) = proxied(book.resolved(printer("_ipp._tcp.local.", "h1.local.", 631)));
        assert_eq!(id, mdns_id("printer", "h1.local."));
        assert_eq!(peer.name, "printer");
        assert_eq!(peer.kind, PeerKind::Mdns);
        assert_eq!(peer.addr, "198.51.100.11".parse::<IpAddr>().unwrap());
        assert_eq!(peer.services, [("ipp".to_owned(), 631)].into());
        assert_eq!(txt["rp"], "ipp/print");
        // Its web page: the same peer, two services, the TXT records of both.
        let mut web = printer("_http._tcp.local.", "H1.local.", 80);
        web.txt = [("path".to_owned(), "/admin".to_owned())].into();
        let (same, peer, txt) = proxied(book.resolved(web));
        assert_eq!(same, id);
        assert_eq!(
            peer.services,
            [("http".to_owned(), 80), ("ipp".to_owned(), 631)].into()
        );
        assert_eq!(
            txt,
            [
                ("path".to_owned(), "/admin".to_owned()),
                ("rp".to_owned(), "ipp/print".to_owned())
            ]
            .into()
        );
        assert_eq!(book.len(), 1);
        // One withdrawn: still there, without that service's TXT; both: gone.
        let Some(Change::Proxy { peer, .. }) = book.removed("printer._http._tcp.local.") else {
            panic!("not updated");
        };
        assert_eq!(peer.services.len(), 1);
        assert_eq!(peer.txt, [("rp".to_owned(), "ipp/print".to_owned())].into());
        assert_eq!(
            book.removed("printer._ipp._tcp.local."),
            Some(Change::Unproxy {
                id,
                name: "printer".into()
            })
        );
        assert!(book.is_empty());
        assert_eq!(book.removed("printer._ipp._tcp.local."), None);
    }

    #[test]
    fn the_same_instance_name_on_two_hosts_is_two_peers() {
        let mut book = Browsed::default();
        book.resolved(printer("_ipp._tcp.local.", "h1.local.", 631))
            .unwrap();
        let (id, peer, _) = proxied(book.resolved(printer("_http._tcp.local.", "h2.local.", 80)));
        assert_eq!(id, mdns_id("printer", "h2.local."));
        assert_eq!(peer.name, "printer@h2.local");
        assert_eq!(book.len(), 2);
    }

    #[test]
    fn a_service_that_moves_host_leaves_its_old_peer() {
        let mut book = Browsed::default();
        book.resolved(printer("_ipp._tcp.local.", "h1.local.", 631))
            .unwrap();
        let changes = book
            .resolved(printer("_ipp._tcp.local.", "h3.local.", 631))
            .unwrap();
        assert!(matches!(
            changes.as_slice(),
            [Change::Unproxy { id: old, .. }, Change::Proxy { id: new, .. }]
                if *old == mdns_id("printer", "h1.local.") && *new == mdns_id("printer", "h3.local.")
        ));
        assert_eq!(book.len(), 1);
        let Some(Change::Unproxy { id, .. }) = book.removed("printer._ipp._tcp.local.") else {
            panic!("not removed");
        };
        assert_eq!(id, mdns_id("printer", "h3.local."));
    }

    #[test]
    fn herald_nodes_unaddressed_services_and_overflow_are_skipped() {
        let mut book = Browsed::default();
        let mut own = printer("_herald._tcp.local.", "h1.local.", 7400);
        own.txt
            .insert(TXT_NODE_ID.into(), NodeId([1; 16]).to_string());
        assert_eq!(book.resolved(own), Err(Skip::Herald));
        let mut bare = printer("_ipp._tcp.local.", "h1.local.", 631);
        bare.addrs.clear();
        assert_eq!(book.resolved(bare), Err(Skip::NoAddress));
        for i in 0..MAX_BROWSED {
            let mut other = printer("_ipp._tcp.local.", &format!("h{i}.local."), 631);
            other.fullname = format!("printer {i}._ipp._tcp.local.");
            book.resolved(other).unwrap();
        }
        assert_eq!(
            book.resolved(printer("_ipp._tcp.local.", "extra.local.", 631)),
            Err(Skip::Full(MAX_BROWSED))
        );
        // Known peers still update.
        let mut known = printer("_ipp._tcp.local.", "h0.local.", 632);
        known.fullname = "printer 0._ipp._tcp.local.".into();
        assert!(book.resolved(known).is_ok());
    }

    #[test]
    fn instance_names_are_unescaped() {
        let service = Resolved {
            ty_domain: "_http._tcp.local.".into(),
            fullname: "Lab printer v2\\.1._http._tcp.local.".into(),
            host: "h.local.".into(),
            port: 80,
            addrs: vec![],
            txt: BTreeMap::new(),
        };
        assert_eq!(service.instance(), "Lab printer v2.1");
    }
}
