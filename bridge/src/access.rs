//! Who may open the WebSocket (and read `/metrics`): the access token and the Origin allow-list, sans-IO.
//!
//! Browsers cannot set headers on a WebSocket, so the token travels as `?token=` in the URL. A browser always
//! sends `Origin`; it must be the bridge's own origin (on loopback, `localhost`, `127.0.0.1` and `[::1]` at the
//! bridge's port all count) or one of the allowed origins. A request without `Origin` is not from a browser
//! page: it needs the token unless the bridge listens on loopback.

use std::net::SocketAddr;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The token is missing or wrong.
    #[error("missing or wrong access token")]
    Token,
    /// The page's origin is not allowed.
    #[error("origin {0:?} is not allowed")]
    Origin(String),
}

/// The access rules of one bridge.
#[derive(Debug, Clone)]
pub struct Access {
    token: Option<String>,
    listen: SocketAddr,
    allowed_origins: Vec<String>,
}

impl Access {
    /// Rules for a bridge on `listen`.
    pub fn new(listen: SocketAddr, token: Option<String>, allowed_origins: Vec<String>) -> Access {
        Access {
            token,
            listen,
            allowed_origins: allowed_origins
                .into_iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Checks a WebSocket upgrade: its `Origin` and `Host` headers and `?token=`.
    pub fn check_upgrade(
        &self,
        origin: Option<&str>,
        host: Option<&str>,
        token: Option<&str>,
    ) -> Result<(), Refusal> {
        if let Some(origin) = origin {
            if !self.origin_allowed(origin, host) {
                return Err(Refusal::Origin(origin.to_owned()));
            }
        }
        self.check_token(token)
    }

    /// Checks `?token=` alone (when a token is configured).
    pub fn check_token(&self, token: Option<&str>) -> Result<(), Refusal> {
        match &self.token {
            None => Ok(()),
            Some(expected) if token.is_some_and(|t| same_secret(t, expected)) => Ok(()),
            Some(_) => Err(Refusal::Token),
        }
    }

    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let Some(authority) = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
        else {
            return false;
        };
        if host.is_some_and(|host| host.eq_ignore_ascii_case(authority)) {
            return true;
        }
        let port = self.listen.port();
        if self.listen.ip().is_loopback() {
            return ["localhost", "127.0.0.1", "[::1]"]
                .iter()
                .any(|name| authority == format!("{name}:{port}"));
        }
        authority == format!("{}:{port}", self.listen.ip())
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    let (given, expected) = (given.as_bytes(), expected.as_bytes());
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(token: Option<&str>) -> Access {
        Access::new(
            "127.0.0.1:8080".parse().unwrap(),
            token.map(str::to_owned),
            vec!["http://dev.lan:3000/".into()],
        )
    }

    #[test]
    fn loopback_names_at_the_bridge_port_are_its_own_origin() {
        let access = loopback(None);
        for origin in [
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
        ] {
            assert_eq!(access.check_upgrade(Some(origin), None, None), Ok(()));
        }
        for origin in [
            "http://localhost:8081",
            "http://evil.example",
            "null",
            "file://",
        ] {
            assert_eq!(
                access.check_upgrade(Some(origin), Some("127.0.0.1:8080"), None),
                Err(Refusal::Origin(origin.into()))
            );
        }
    }

    #[test]
    fn the_allow_list_and_the_host_header_admit_an_origin() {
        let access = Access::new(
            "0.0.0.0:8080".parse().unwrap(),
            Some("s3cret".into()),
            vec!["http://dev.lan:3000/".into()],
        );
        let ok = Some("s3cret");
        assert_eq!(
            access.check_upgrade(Some("http://dev.lan:3000"), None, ok),
            Ok(())
        );
        assert_eq!(
            access.check_upgrade(Some("http://node7.lan:8080"), Some("node7.lan:8080"), ok),
            Ok(())
        );
        assert!(access
            .check_upgrade(Some("http://node7.lan:8080"), Some("other:8080"), ok)
            .is_err());
    }

    #[test]
    fn a_configured_token_is_always_required() {
        let access = loopback(Some("s3cret"));
        assert_eq!(access.check_upgrade(None, None, Some("s3cret")), Ok(()));
        assert_eq!(access.check_upgrade(None, None, None), Err(Refusal::Token));
        assert_eq!(
            access.check_upgrade(Some("http://127.0.0.1:8080"), None, Some("s3cre")),
            Err(Refusal::Token)
        );
        assert_eq!(
            access.check_upgrade(None, None, Some("s3creT")),
            Err(Refusal::Token)
        );
        // Without a token (loopback only), a non-browser client needs nothing.
        assert_eq!(loopback(None).check_upgrade(None, None, None), Ok(()));
    }
}
