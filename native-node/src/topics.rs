//! Topics, sans-IO: validated topic names and patterns (exact, or a trailing wildcard such as `sensors.*`),
//! and [`Subscriptions`]: who listens to what, with an optional bound on subscribers per pattern (the old
//! publisher's receiver limit), answering "who gets a message on this topic?" from a cache on the hot path.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

/// Longest topic name or pattern, in bytes.
pub const MAX_TOPIC_LEN: usize = 255;

/// Topics whose subscriber sets are cached; beyond it the cache starts afresh (it only saves work).
const CACHED_TOPICS: usize = 4096;

/// Why a topic or pattern is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Empty.
    #[error("a topic cannot be empty")]
    Empty,
    /// Over [`MAX_TOPIC_LEN`] bytes.
    #[error("topic of {0} bytes is longer than {MAX_TOPIC_LEN}")]
    TooLong(usize),
    /// Whitespace or control characters.
    #[error("a topic cannot contain whitespace or control characters")]
    BadCharacter,
    /// `*` anywhere but as a whole last segment (`a.*`, or `*` alone), or in a published topic.
    #[error(
        "`*` may only end a pattern, as in `sensors.*`, and never appears in a published topic"
    )]
    MisplacedWildcard,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The pattern already has its maximum number of subscribers.
    #[error("{pattern} already has its {limit} subscribers")]
    Limit {
        /// The pattern.
        pattern: String,
        /// The bound.
        limit: u32,
    },
}

/// Checks a topic messages are published on: no wildcard.
pub fn validate_topic(topic: &str) -> Result<(), TopicError> {
    check_text(topic)?;
    if topic.contains('*') {
        return Err(TopicError::MisplacedWildcard);
    }
    Ok(())
}

fn check_text(text: &str) -> Result<(), TopicError> {
    if text.is_empty() {
        return Err(TopicError::Empty);
    }
    if text.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(text.len()));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TopicError::BadCharacter);
    }
    Ok(())
}

/// A subscription pattern: an exact topic, `prefix.*` (every topic below `prefix.`), or `*` (everything).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPattern(String);

impl TopicPattern {
    /// Parses and checks a pattern.
    pub fn parse(text: &str) -> Result<TopicPattern, TopicError> {
        check_text(text)?;
        let stars = text.matches('*').count();
        let ok = stars == 0 || (stars == 1 && (text == "*" || text.ends_with(".*")));
        if !ok {
            return Err(TopicError::MisplacedWildcard);
        }
        Ok(TopicPattern(text.to_owned()))
    }

    /// True when a message on `topic` is for this pattern.
    pub fn matches(&self, topic: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some("") => true,
            // `prefix.*`: at least one more segment below the prefix.
            Some(prefix) => topic.len() > prefix.len() && topic.starts_with(prefix),
            None => self.0 == topic,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who subscribes to which patterns. `K` identifies a subscriber (a peer's id, a local subscription).
#[derive(Debug)]
pub struct Subscriptions<K> {
    by_pattern: BTreeMap<TopicPattern, BTreeSet<K>>,
    limit: Option<u32>,
    cache: HashMap<String, Arc<[K]>>,
}

impl<K: Ord + Clone> Subscriptions<K> {
    /// No subscriptions; at most `limit` subscribers per pattern when given.
    pub fn new(limit: Option<u32>) -> Self {
        Subscriptions {
            by_pattern: BTreeMap::new(),
            limit,
            cache: HashMap::new(),
        }
    }

    /// Adds `who` to `pattern`; `Ok(false)` if it was already there. Refused when the pattern is full.
    pub fn subscribe(&mut self, pattern: &TopicPattern, who: K) -> Result<bool, SubscribeError> {
        let set = self.by_pattern.entry(pattern.clone()).or_default();
        if set.contains(&who) {
            return Ok(false);
        }
        if let Some(limit) = self.limit {
            if set.len() >= limit as usize {
                if set.is_empty() {
                    self.by_pattern.remove(pattern);
                }
                return Err(SubscribeError::Limit {
                    pattern: pattern.to_string(),
                    limit,
                });
            }
        }
        set.insert(who);
        self.cache.clear();
        Ok(true)
    }

    /// Removes `who` from `pattern`; true if it was there.
    pub fn unsubscribe(&mut self, pattern: &TopicPattern, who: &K) -> bool {
        let Some(set) = self.by_pattern.get_mut(pattern) else {
            return false;
        };
        let removed = set.remove(who);
        if set.is_empty() {
            self.by_pattern.remove(pattern);
        }
        if removed {
            self.cache.clear();
        }
        removed
    }

    /// Removes every subscription of `who` (a peer that left).
    pub fn remove_subscriber(&mut self, who: &K) {
        self.by_pattern.retain(|_, set| {
            set.remove(who);
            !set.is_empty()
        });
        self.cache.clear();
    }

    /// Everyone a message on `topic` goes to, each once.
    pub fn subscribers(&mut self, topic: &str) -> Arc<[K]> {
        if let Some(found) = self.cache.get(topic) {
            return found.clone();
        }
        let found: BTreeSet<K> = self
            .by_pattern
            .iter()
            .filter(|(pattern, _)| pattern.matches(topic))
            .flat_map(|(_, set)| set.iter().cloned())
            .collect();
        let found: Arc<[K]> = found.into_iter().collect();
        if self.cache.len() >= CACHED_TOPICS {
            self.cache.clear();
        }
        self.cache.insert(topic.to_owned(), found.clone());
        found
    }

    /// The patterns `who` subscribes to.
    pub fn patterns_of(&self, who: &K) -> Vec<TopicPattern> {
        self.by_pattern
            .iter()
            .filter(|(_, set)| set.contains(who))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(text: &str) -> TopicPattern {
        TopicPattern::parse(text).unwrap()
    }

    #[test]
    fn patterns_match_as_documented() {
        assert!(p("chat").matches("chat"));
        assert!(!p("chat").matches("chats"));
        assert!(p("sensors.*").matches("sensors.kitchen"));
        assert!(p("sensors.*").matches("sensors.kitchen.temp"));
        assert!(!p("sensors.*").matches("sensors"));
        assert!(
            !p("sensors.*").matches("sensors."),
            "needs a segment after the dot"
        );
        assert!(!p("sensors.*").matches("sensorsX"));
        assert!(p("*").matches("anything.at.all"));
    }

    #[test]
    fn bad_topics_and_patterns_are_named() {
        assert_eq!(TopicPattern::parse(""), Err(TopicError::Empty));
        assert_eq!(
            TopicPattern::parse("a*"),
            Err(TopicError::MisplacedWildcard)
        );
        assert_eq!(
            TopicPattern::parse("*.b"),
            Err(TopicError::MisplacedWildcard)
        );
        assert_eq!(
            TopicPattern::parse("a.*.*"),
            Err(TopicError::MisplacedWildcard)
        );
        assert_eq!(TopicPattern::parse("a b"), Err(TopicError::BadCharacter));
        assert_eq!(validate_topic("a.*"), Err(TopicError::MisplacedWildcard));
        assert_eq!(
            validate_topic(&"x".repeat(256)),
            Err(TopicError::TooLong(256))
        );
        assert_eq!(validate_topic("sensors.kitchen"), Ok(()));
    }

    #[test]
    fn subscribers_are_the_union_of_matching_patterns_each_once() {
        let mut subs = Subscriptions::new(None);
        subs.subscribe(&p("sensors.*"), 1).unwrap();
        subs.subscribe(&p("sensors.kitchen"), 1).unwrap();
        subs.subscribe(&p("sensors.kitchen"), 2).unwrap();
        subs.subscribe(&p("*"), 3).unwrap();
        assert_eq!(&*subs.subscribers("sensors.kitchen"), &[1, 2, 3]);
        assert_eq!(&*subs.subscribers("sensors.hall"), &[1, 3]);
        assert_eq!(&*subs.subscribers("chat"), &[3]);
        assert!(subs.unsubscribe(&p("*"), &3));
        assert_eq!(
            &*subs.subscribers("chat"),
            &[] as &[i32],
            "the cache was invalidated"
        );
        subs.remove_subscriber(&1);
        assert_eq!(&*subs.subscribers("sensors.kitchen"), &[2]);
        assert_eq!(subs.patterns_of(&2), vec![p("sensors.kitchen")]);
    }

    #[test]
    fn the_bound_refuses_the_extra_subscriber_clearly() {
        let mut subs = Subscriptions::new(Some(2));
        assert_eq!(subs.subscribe(&p("t"), 1), Ok(true));
        assert_eq!(
            subs.subscribe(&p("t"), 1),
            Ok(false),
            "subscribing twice is not a second subscriber"
        );
        assert_eq!(subs.subscribe(&p("t"), 2), Ok(true));
        assert_eq!(
            subs.subscribe(&p("t"), 3),
            Err(SubscribeError::Limit {
                pattern: "t".into(),
                limit: 2
            })
        );
        subs.unsubscribe(&p("t"), &1);
        assert_eq!(
            subs.subscribe(&p("t"), 3),
            Ok(true),
            "room again once one left"
        );
    }

    proptest! {
        #[test]
        fn a_wildcard_matches_exactly_the_topics_below_its_prefix(prefix in "[a-z]{1,5}", rest in "[a-z.]{0,8}") {
            let pattern = p(&format!("{prefix}.*"));
            let topic = format!("{prefix}.{rest}");
            prop_assert_eq!(pattern.matches(&topic), !rest.is_empty());
            prop_assert!(!pattern.matches(&prefix));
        }

        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = TopicPattern::parse(&text);
            let _ = validate_topic(&text);
        }
    }
}
