//! DNS-SD over mDNS, both ways: a node announces itself (`_herald._tcp`) and its named services (`_NAME._tcp`)
//! to the LAN's own service discovery (Avahi, Bonjour), and the services it browses for (printers, web
//! servers) become proxied peers of kind `mdns` via this node.
//!
//! - [`records`]: the sans-IO part: what to announce, and the book that maps resolved services to peers.
//! - [`daemon`] (feature `mdns`): the glue to the `mdns-sd` daemon, kept to the node's interface.

#[cfg(feature = "mdns")]
pub mod daemon;
pub mod records;

#[cfg(feature = "mdns")]
pub use daemon::{Mdns, MdnsConfig, MdnsError};
