//! The subject layout on NATS, a versioned contract (sans-IO): everything Herald puts on NATS lives under one
//! prefix, [`PREFIX`] (`herald.v1`), so plain NATS clients can rely on it and NATS account permissions can
//! fence it. Version 1:
//!
//! | subject | what |
//! |---|---|
//! | `herald.v1.t.<topic>` | a message on a Herald topic (`sensors.kitchen` → `herald.v1.t.sensors.kitchen`); body = raw payload |
//! | `herald.v1.peers.<site>` | a site's peer list (JSON [`SiteSnapshot`](super::remote::SiteSnapshot)), on every change and every heartbeat |
//! | `herald.v1.sync` | "publish your peer list now" (a gateway that (re)connects asks it) |
//! | `herald.v1.direct.<site>.<node-id>` | a direct message to a peer at `site` (node id as 32 hex digits) |
//! | `herald.v1.ask.<site>.<node-id>` | a question (NATS request/reply); the reply's body is the answer |
//! | `herald.v1.probe.<site>` | a gateway's round trip to its own server after it subscribes (nobody answers) |
//!
//! Who sent a message travels in one header, [`H_FROM`]: `Herald-From: <site> <node-id> <name>` ([`Sender`]:
//! the site, one token; the node id as 32 hex digits, or `-` when the sending gateway does not know it; the
//! name, the rest of the value); a reply to a question says how it went in [`H_OUTCOME`]. A message without a
//! well-formed `Herald-From` came from a plain NATS client.
//!
//! A Herald pattern's trailing `*` (everything below) is NATS's `>`: `sensors.*` → `herald.v1.t.sensors.>`,
//! `*` → `herald.v1.t.>`. A topic that is not a valid NATS subject (an empty token, a `*` or `>` token,
//! whitespace) is refused with [`SubjectError`].

use herald_core::NodeId;

/// The prefix of every subject Herald uses, with the contract's version.
pub const PREFIX: &str = "herald.v1";
/// Header: who sent a message, `<site> <node-id> <name>` (see [`Sender`]).
pub const H_FROM: &str = "Herald-From";
/// Header of a reply to a question: `answered`, `failed`, `unknown_peer`, `peer_left` or `timeout`.
pub const H_OUTCOME: &str = "Herald-Outcome";

/// Who sent a message, as its `Herald-From` header says: `<site> <node-id> <name>`, separated by single
/// spaces; the node id is 32 hex digits, or `-` when the sending gateway does not know it (a direct message
/// or question it carries for a LAN peer by name); the name is the rest of the value (it may hold spaces).
/// One header, read by borrowing from its value: the receiving gateway parses it for every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender<'a> {
    /// The sending site.
    pub site: &'a str,
    /// The sender's node id, when told.
    pub id: Option<NodeId>,
    /// The sender's name at its site.
    pub name: &'a str,
}

impl<'a> Sender<'a> {
    /// Reads a `Herald-From` value; `None` when it is not one (a site that is no token, an id that is
    /// neither 32 hex digits nor `-`, no name).
    pub fn parse(value: &'a str) -> Option<Sender<'a>> {
        let (site, rest) = value.split_once(' ')?;
        let (id, name) = rest.split_once(' ')?;
        check_site(site).ok()?;
        let id = match id {
            "-" => None,
            hex => Some(hex.parse().ok()?),
        };
        (!name.is_empty()).then_some(Sender { site, id, name })
    }

    /// The header value naming this sender.
    pub fn header_value(&self) -> String {
        match self.id {
            Some(id) => format!("{} {id} {}", self.site, self.name),
            None => format!("{} - {}", self.site, self.name),
        }
    }
}

/// Why a topic, pattern or site name cannot be put on NATS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// Empty, or an empty token (`a..b`, a leading or trailing dot).
    #[error("{0:?} has an empty token")]
    EmptyToken(String),
    /// A `*` or `>` token where NATS would read a wildcard (or a `*` that is not the last token of a pattern).
    #[error("{0:?} has a wildcard token NATS would misread")]
    Wildcard(String),
    /// Whitespace or control characters.
    #[error("{0:?} has whitespace or control characters")]
    BadCharacter(String),
    /// A site name must be one token (no dots).
    #[error("site name {0:?} must be one token: letters, digits, `-` or `_`")]
    BadSite(String),
}

/// Checks a site name: one NATS token of letters, digits, `-` and `_`.
pub fn check_site(site: &str) -> Result<(), SubjectError> {
    let ok = !site.is_empty()
        && site
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SubjectError::BadSite(site.to_owned()))
    }
}

fn check_tokens(text: &str, wildcard_last: bool) -> Result<(), SubjectError> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SubjectError::BadCharacter(text.to_owned()));
    }
    let tokens: Vec<&str> = text.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(SubjectError::EmptyToken(text.to_owned()));
        }
        let last = i + 1 == tokens.len();
        let star_ok = wildcard_last && last && *token == "*";
        if (token.contains('*') && !star_ok) || token.contains('>') {
            return Err(SubjectError::Wildcard(text.to_owned()));
        }
    }
    Ok(())
}

/// The subject a message on `topic` goes to.
pub fn topic_subject(topic: &str) -> Result<String, SubjectError> {
    check_tokens(topic, false)?;
    Ok(format!("{PREFIX}.t.{topic}"))
}

/// The subject a Herald pattern subscribes to (`*` at the end becomes `>`).
pub fn pattern_subject(pattern: &str) -> Result<String, SubjectError> {
    check_tokens(pattern, true)?;
    Ok(match pattern.strip_suffix('*') {
        Some(prefix) => format!("{PREFIX}.t.{prefix}>"),
        None => format!("{PREFIX}.t.{pattern}"),
    })
}

/// The Herald topic of a subject under `herald.v1.t.`, if it is one.
pub fn subject_topic(subject: &str) -> Option<&str> {
    subject
        .strip_prefix(PREFIX)?
        .strip_prefix(".t.")
        .filter(|t| !t.is_empty())
}

/// Where `site` publishes its peer list.
pub fn peers_subject(site: &str) -> String {
    format!("{PREFIX}.peers.{site}")
}

/// Every site's peer list.
pub fn all_peers_subject() -> String {
    format!("{PREFIX}.peers.*")
}

/// The site a peer-list subject is from.
pub fn subject_site(subject: &str) -> Option<&str> {
    let site = subject.strip_prefix(PREFIX)?.strip_prefix(".peers.")?;
    check_site(site).ok().map(|_| site)
}

/// Where a gateway asks every site for its peer list.
pub fn sync_subject() -> String {
    format!("{PREFIX}.sync")
}

/// Where direct messages to the peer `id` at `site` go.
pub fn direct_subject(site: &str, id: NodeId) -> String {
    format!("{PREFIX}.direct.{site}.{id}")
}

/// Where questions to the peer `id` at `site` go.
pub fn ask_subject(site: &str, id: NodeId) -> String {
    format!("{PREFIX}.ask.{site}.{id}")
}

/// What a site's gateway subscribes to for its peers' direct messages and questions: (direct, ask).
pub fn inbox_subjects(site: &str) -> (String, String) {
    (
        format!("{PREFIX}.direct.{site}.*"),
        format!("{PREFIX}.ask.{site}.*"),
    )
}

/// The node id at the end of a direct or ask subject.
pub fn subject_node(subject: &str) -> Option<NodeId> {
    subject.rsplit('.').next()?.parse().ok()
}

/// Whether the pattern `wide` takes in everything `narrow` (a topic or a pattern) does, and more: `sensors.*`
/// covers `sensors.kitchen` and `sensors.kitchen.*`; `*` covers everything but itself.
pub fn covers(wide: &str, narrow: &str) -> bool {
    wide != narrow
        && match wide.strip_suffix('*') {
            Some(prefix) => narrow.starts_with(prefix) && narrow.len() > prefix.len(),
            None => false,
        }
}

/// Where a gateway asks its own server a question nobody answers, right after subscribing: the server's
/// reply ("no responders") comes back on the same connection after the subscription is in place.
pub fn probe_subject(site: &str) -> String {
    format!("{PREFIX}.probe.{site}")
}

/// The patterns in `patterns` that no other one covers (`sensors.*` covers `sensors.kitchen` and
/// `sensors.kitchen.*`; `*` covers everything), sorted: subscribing to these gets every matching message
/// once (NATS delivers a message once per matching subscription).
pub fn minimal_patterns<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut all: Vec<&str> = patterns.into_iter().collect();
    all.sort();
    all.dedup();
    all.iter()
        .filter(|p| !all.iter().any(|w| covers(w, p)))
        .map(|p| (*p).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_patterns_map_one_to_one() {
        assert_eq!(
            topic_subject("sensors.kitchen").unwrap(),
            "herald.v1.t.sensors.kitchen"
        );
        assert_eq!(
            pattern_subject("sensors.*").unwrap(),
            "herald.v1.t.sensors.>"
        );
        assert_eq!(pattern_subject("*").unwrap(), "herald.v1.t.>");
        assert_eq!(pattern_subject("chat").unwrap(), "herald.v1.t.chat");
        assert_eq!(
            subject_topic("herald.v1.t.sensors.kitchen"),
            Some("sensors.kitchen")
        );
        assert_eq!(subject_topic("herald.v1.peers.a"), None);
        assert_eq!(subject_topic("herald.v1.t."), None);
    }

    #[test]
    fn topics_nats_cannot_carry_are_refused() {
        for bad in ["a..b", ".a", "a.", ""] {
            assert!(
                matches!(topic_subject(bad), Err(SubjectError::EmptyToken(_))),
                "{bad}"
            );
        }
        for bad in ["a.>", ">", "a.*", "a*b", "x.>.y"] {
            assert!(
                matches!(topic_subject(bad), Err(SubjectError::Wildcard(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            topic_subject("a b"),
            Err(SubjectError::BadCharacter(_))
        ));
        assert!(matches!(
            pattern_subject("a.*.b"),
            Err(SubjectError::Wildcard(_))
        ));
        assert!(matches!(
            pattern_subject("a.>"),
            Err(SubjectError::Wildcard(_))
        ));
    }

    #[test]
    fn sites_are_one_token() {
        assert!(check_site("lab-2_b").is_ok());
        for bad in ["", "a.b", "a b", "*", ">", "é"] {
            assert!(check_site(bad).is_err(), "{bad}");
        }
        assert_eq!(subject_site("herald.v1.peers.lab"), Some("lab"));
        assert_eq!(subject_site("herald.v1.peers.a.b"), None);
    }

    #[test]
    fn node_subjects_carry_the_id() {
        let id = NodeId([0xab; 16]);
        let subject = direct_subject("b", id);
        assert_eq!(subject, format!("herald.v1.direct.b.{}", "ab".repeat(16)));
        assert_eq!(subject_node(&subject), Some(id));
        assert_eq!(subject_node(&ask_subject("b", id)), Some(id));
        assert_eq!(subject_node("herald.v1.ask.b.zz"), None);
    }

    #[test]
    fn the_sender_header_round_trips_and_refuses_garbage() {
        let id = NodeId([0x0f; 16]);
        let with_id = Sender {
            site: "lab-2",
            id: Some(id),
            name: "kitchen sensor",
        };
        let value = with_id.header_value();
        assert_eq!(value, format!("lab-2 {} kitchen sensor", "0f".repeat(16)));
        assert_eq!(Sender::parse(&value), Some(with_id));
        let by_name = Sender {
            site: "b",
            id: None,
            name: "a1",
        };
        assert_eq!(by_name.header_value(), "b - a1");
        assert_eq!(Sender::parse("b - a1"), Some(by_name));
        for bad in [
            "", "b", "b -", "b - ", "a.b - x", "b zz x", "b 0f0f x", " - x",
        ] {
            assert_eq!(Sender::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn covered_patterns_are_dropped() {
        assert_eq!(
            minimal_patterns([
                "sensors.kitchen",
                "sensors.*",
                "chat",
                "sensors.a.*",
                "chat"
            ]),
            ["chat", "sensors.*"]
        );
        assert_eq!(minimal_patterns(["*", "a", "b.*"]), ["*"]);
        assert_eq!(minimal_patterns(["a.*", "ab"]), ["a.*", "ab"]);
    }
}
