//! The Twisted hub's datagrams (TwistedHubService): lookups from clients, registrations and removals from
//! services, and the hub's replies. All ASCII, fields split on `:`, no terminators.
//!
//! ```text
//! TwistedUDPClient:SERVICE                      -> SERVICE:IP:PORT | Active Service Exception: SERVICE null:null
//! TwistedHubService:SERVICE:IP:PORT             -> "from TwistedHubService "
//! TwistedHubServiceRemove:SERVICE:IP:PORT       -> "from TwistedHubService service has been removed "
//! ```
//! Herald replies to a lookup with the documented `SERVICE:IP:PORT`, not the old hub's bug (it sent the first
//! two characters of the stored `"ip:port"` string).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

/// The hub's multicast group (the all-hosts group, as the old hub joined).
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// The hub's UDP port.
pub const PORT: u16 = 8888;
/// Longest service name taken.
pub const MAX_SERVICE_LEN: usize = 64;

const LOOKUP: &str = "TwistedUDPClient";
const REGISTER: &str = "TwistedHubService";
const REMOVE: &str = "TwistedHubServiceRemove";
const REGISTERED: &str = "from TwistedHubService ";
const REMOVED: &str = "from TwistedHubService service has been removed ";
const MISS_PREFIX: &str = "Active Service Exception: ";
const MISS_SUFFIX: &str = " null:null";

/// A datagram to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubRequest {
    /// `TwistedUDPClient:SERVICE`: where is SERVICE?
    Lookup {
        /// The service name.
        service: String,
    },
    /// `TwistedHubService:SERVICE:IP:PORT`: SERVICE is at IP:PORT.
    Register {
        /// The service name.
        service: String,
        /// Where it is.
        addr: SocketAddrV4,
    },
    /// `TwistedHubServiceRemove:SERVICE:IP:PORT`: SERVICE is gone.
    Remove {
        /// The service name.
        service: String,
        /// Where it was (as the service says; the hub removes by name).
        addr: SocketAddrV4,
    },
}

/// The hub's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubReply {
    /// The service and where it is.
    Found {
        /// The service name.
        service: String,
        /// Where it is.
        addr: SocketAddr,
    },
    /// No such service.
    NotFound {
        /// The service name.
        service: String,
    },
    /// A registration was stored.
    Registered,
    /// A removal was done.
    Removed,
}

/// Why a datagram is not a hub request (or reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// Bytes outside ASCII.
    #[error("not ASCII")]
    NotAscii,
    /// A first field the hub does not know.
    #[error("unknown request {0:?}")]
    Unknown(String),
    /// Fewer fields than the request needs.
    #[error("missing fields")]
    MissingFields,
    /// An empty service name, too long, or with control characters or `:`.
    #[error("bad service name")]
    BadService,
    /// An address that is not IPv4 dotted, or a port that is not 1..=65535.
    #[error("bad address")]
    BadAddress,
}

impl HubRequest {
    /// Reads a datagram to the hub. Fields are trimmed of surrounding whitespace.
    pub fn decode(bytes: &[u8]) -> Result<HubRequest, HubError> {
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.is_ascii())
            .ok_or(HubError::NotAscii)?;
        let fields: Vec<&str> = text.split(':').map(str::trim).collect();
        match fields[0] {
            LOOKUP => {
                // A service name cannot hold ':', so a lookup has exactly two fields.
                match fields.as_slice() {
                    [_, service] => Ok(HubRequest::Lookup {
                        service: service_name(service)?,
                    }),
                    [_] => Err(HubError::MissingFields),
                    _ => Err(HubError::BadService),
                }
            }
            REGISTER | REMOVE => {
                let [_, service, ip, port] = fields.as_slice() else {
                    return Err(if fields.len() < 4 {
                        HubError::MissingFields
                    } else {
                        HubError::BadAddress
                    });
                };
                let service = service_name(service)?;
                let ip: Ipv4Addr = ip.parse().map_err(|_| HubError::BadAddress)?;
                let port: u16 = port
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(HubError::BadAddress)?;
                let addr = SocketAddrV4::new(ip, port);
                Ok(if fields[0] == REGISTER {
                    HubRequest::Register { service, addr }
                } else {
                    HubRequest::Remove { service, addr }
                })
            }
            other => Err(HubError::Unknown(other.chars().take(32).collect())),
        }
    }

    /// The datagram as an old client or service sends it.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            HubRequest::Lookup { service } => format!("{LOOKUP}:{service}"),
            HubRequest::Register { service, addr } => {
                format!("{REGISTER}:{service}:{}:{}", addr.ip(), addr.port())
            }
            HubRequest::Remove { service, addr } => {
                format!("{REMOVE}:{service}:{}:{}", addr.ip(), addr.port())
            }
        }
        .into_bytes()
    }
}

impl HubReply {
    /// The reply's bytes.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            HubReply::Found { service, addr } => format!("{service}:{}:{}", addr.ip(), addr.port()),
            HubReply::NotFound { service } => format!("{MISS_PREFIX}{service}{MISS_SUFFIX}"),
            HubReply::Registered => REGISTERED.to_owned(),
            HubReply::Removed => REMOVED.to_owned(),
        }
        .into_bytes()
    }

    /// Reads a reply (for clients and tests).
    pub fn decode(bytes: &[u8]) -> Result<HubReply, HubError> {
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| t.is_ascii())
            .ok_or(HubError::NotAscii)?;
        match text {
            REGISTERED => return Ok(HubReply::Registered),
            REMOVED => return Ok(HubReply::Removed),
            _ => {}
        }
        if let Some(service) = text
            .strip_prefix(MISS_PREFIX)
            .and_then(|rest| rest.strip_suffix(MISS_SUFFIX))
        {
            return Ok(HubReply::NotFound {
                service: service.to_owned(),
            });
        }
        let mut fields = text.splitn(2, ':');
        let service = fields.next().ok_or(HubError::MissingFields)?;
        let rest = fields.next().ok_or(HubError::MissingFields)?;
        let (ip, port) = rest.rsplit_once(':').ok_or(HubError::MissingFields)?;
        let ip: IpAddr = ip.parse().map_err(|_| HubError::BadAddress)?;
        let port: u16 = port.parse().map_err(|_| HubError::BadAddress)?;
        Ok(HubReply::Found {
            service: service_name(service)?,
            addr: SocketAddr::new(ip, port),
        })
    }
}

fn service_name(text: &str) -> Result<String, HubError> {
    if text.is_empty()
        || text.len() > MAX_SERVICE_LEN
        || text.chars().any(|c| c.is_control() || c == ':')
    {
        return Err(HubError::BadService);
    }
    Ok(text.to_owned())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_requests_are_read() {
        assert_eq!(
            HubRequest::decode(b"TwistedUDPClient:ActiveService01").unwrap(),
            HubRequest::Lookup {
                service: "ActiveService01".into()
            }
        );
        let addr: SocketAddrV4 = "198.51.100.12:8887".parse().unwrap();
        assert_eq!(
            HubRequest::decode(b"TwistedHubService:ActiveService01:198.51.100.12:8887").unwrap(),
            HubRequest::Register {
                service: "ActiveService01".into(),
                addr
            }
        );
        assert_eq!(
            HubRequest::decode(b"TwistedHubServiceRemove: ActiveService01 :198.51.100.12:8887\n")
                .unwrap(),
            HubRequest::Remove {
                service: "ActiveService01".into(),
                addr
            }
        );
        for request in [
            HubRequest::Lookup {
                service: "a".into(),
            },
            HubRequest::Register {
                service: "a".into(),
                addr,
            },
            HubRequest::Remove {
                service: "a".into(),
                addr,
            },
        ] {
            assert_eq!(HubRequest::decode(&request.encode()).unwrap(), request);
        }
    }

    #[test]
    fn replies_are_the_documented_bytes() {
        let found = HubReply::Found {
            service: "ActiveService01".into(),
            addr: "127.0.0.1:8887".parse().unwrap(),
        };
        assert_eq!(found.encode(), b"ActiveService01:127.0.0.1:8887");
        let miss = HubReply::NotFound {
            service: "nope".into(),
        };
        assert_eq!(miss.encode(), b"Active Service Exception: nope null:null");
        assert_eq!(HubReply::Registered.encode(), b"from TwistedHubService ");
        assert_eq!(
            HubReply::Removed.encode(),
            b"from TwistedHubService service has been removed "
        );
        for reply in [found, miss, HubReply::Registered, HubReply::Removed] {
            assert_eq!(HubReply::decode(&reply.encode()).unwrap(), reply);
        }
    }

    #[test]
    fn bad_requests_are_named() {
        assert_eq!(HubRequest::decode(b"\xff"), Err(HubError::NotAscii));
        assert_eq!(
            HubRequest::decode(b"Hello:x"),
            Err(HubError::Unknown("Hello".into()))
        );
        assert_eq!(
            HubRequest::decode(b"TwistedUDPClient"),
            Err(HubError::MissingFields)
        );
        assert_eq!(
            HubRequest::decode(b"TwistedUDPClient:"),
            Err(HubError::BadService)
        );
        assert_eq!(
            HubRequest::decode(b"TwistedUDPClient:a\x01b"),
            Err(HubError::BadService)
        );
        assert_eq!(
            HubRequest::decode(b"TwistedHubService:a:1.2.3.4"),
            Err(HubError::MissingFields)
        );
        assert_eq!(
            HubRequest::decode(b"TwistedHubService:a:host:80"),
            Err(HubError::BadAddress)
        );
        assert_eq!(
            HubRequest::decode(b"TwistedHubService:a:1.2.3.4:0"),
            Err(HubError::BadAddress)
        );
        assert_eq!(
            HubRequest::decode(b"TwistedHubService:a:1.2.3.4:80:x"),
            Err(HubError::BadAddress)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = HubRequest::decode(&bytes);
            let _ = HubReply::decode(&bytes);
        }

        #[test]
        fn registrations_round_trip(service in "[A-Za-z0-9_.-]{1,64}", ip: [u8; 4], port in 1u16..) {
            let request = HubRequest::Register {
                service,
                addr: SocketAddrV4::new(Ipv4Addr::from(ip), port),
            };
            prop_assert_eq!(HubRequest::decode(&request.encode()).unwrap(), request);
        }
    }
}
