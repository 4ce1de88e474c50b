//! Content negotiation, sans-IO: which of a file's encodings (brotli, gzip, none) to send for a request's
//! `Accept-Encoding` header (RFC 9110 §12.5.3: q-values, `*`, `identity`).

/// An encoding a dashboard file can be sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Brotli (`br`): the smallest; every current browser accepts it.
    Brotli,
    /// gzip.
    Gzip,
    /// The file as it is.
    Identity,
}

impl Encoding {
    /// The `Content-Encoding` value, `None` for identity (no header).
    pub fn header(self) -> Option<&'static str> {
        match self {
            Encoding::Brotli => Some("br"),
            Encoding::Gzip => Some("gzip"),
            Encoding::Identity => None,
        }
    }

    /// Preference when the client weighs several equally: smallest first.
    const BY_PREFERENCE: [Encoding; 3] = [Encoding::Brotli, Encoding::Gzip, Encoding::Identity];
}

/// The encoding to send: among those `available`, the one the client weighs highest (ties go to the smaller
/// encoding). Without the header, identity. Identity is always available, and sent when the client accepts
/// none of the others (rather than a 406: a browser that refuses identity too gets something it can report).
pub fn choose(accept_encoding: Option<&str>, available: impl Fn(Encoding) -> bool) -> Encoding {
    let Some(header) = accept_encoding else {
        return Encoding::Identity;
    };
    let weights = Weights::parse(header);
    let mut best = (Encoding::Identity, 0.0_f32);
    for encoding in Encoding::BY_PREFERENCE {
        if encoding != Encoding::Identity && !available(encoding) {
            continue;
        }
        let q = weights.of(encoding);
        if q > best.1 {
            best = (encoding, q);
        }
    }
    best.0
}

/// The q-values an `Accept-Encoding` header gives (`None`: not named).
#[derive(Debug, Default)]
struct Weights {
    br: Option<f32>,
    gzip: Option<f32>,
    identity: Option<f32>,
    any: Option<f32>,
}

impl Weights {
    fn parse(header: &str) -> Weights {
        let mut weights = Weights::default();
        for item in header.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0;
            for param in parts {
                if let Some((name, value)) = param.split_once('=') {
                    if name.trim().eq_ignore_ascii_case("q") {
                        // A malformed weight makes the item meaningless: treat it as refused.
                        q = value.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                    }
                }
            }
            let slot = match coding.as_str() {
                "br" => &mut weights.br,
                "gzip" | "x-gzip" => &mut weights.gzip,
                "identity" => &mut weights.identity,
                "*" => &mut weights.any,
                _ => continue,
            };
            *slot = Some(q);
        }
        weights
    }

    /// The weight of `encoding`: its own, else that of `*`. Identity is acceptable unless refused, but a
    /// client naming a compression wants it: unnamed, identity weighs least, and named, just under an equal
    /// alternative.
    fn of(&self, encoding: Encoding) -> f32 {
        match encoding {
            Encoding::Brotli => self.br.or(self.any).unwrap_or(0.0),
            Encoding::Gzip => self.gzip.or(self.any).unwrap_or(0.0),
            Encoding::Identity => self.identity.or(self.any).map_or(0.001, |q| q * 0.999),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: Encoding) -> bool {
        true
    }

    #[test]
    fn browsers_get_brotli_and_older_clients_gzip() {
        // Chromium's and Firefox's header.
        assert_eq!(
            choose(Some("gzip, deflate, br, zstd"), all),
            Encoding::Brotli
        );
        assert_eq!(choose(Some("gzip"), all), Encoding::Gzip);
        assert_eq!(choose(Some("x-gzip"), all), Encoding::Gzip);
        assert_eq!(choose(Some("br"), all), Encoding::Brotli);
        assert_eq!(choose(Some("BR"), all), Encoding::Brotli);
    }

    #[test]
    fn no_header_or_nothing_known_means_identity() {
        assert_eq!(choose(None, all), Encoding::Identity);
        assert_eq!(choose(Some(""), all), Encoding::Identity);
        assert_eq!(choose(Some("identity"), all), Encoding::Identity);
        assert_eq!(choose(Some("deflate, zstd"), all), Encoding::Identity);
    }

    #[test]
    fn weights_are_respected() {
        assert_eq!(choose(Some("br;q=0.5, gzip;q=0.8"), all), Encoding::Gzip);
        assert_eq!(choose(Some("br;q=0, gzip"), all), Encoding::Gzip);
        assert_eq!(choose(Some("gzip;q=0, br;q=0"), all), Encoding::Identity);
        assert_eq!(choose(Some("*"), all), Encoding::Brotli);
        assert_eq!(choose(Some("*;q=0.1, identity"), all), Encoding::Identity);
        assert_eq!(
            choose(Some("gzip ; q=0.9 , br;q=0.9"), all),
            Encoding::Brotli
        );
        assert_eq!(choose(Some("br;q=nonsense, gzip"), all), Encoding::Gzip);
    }

    #[test]
    fn only_available_encodings_are_chosen() {
        let gzip_only = |e: Encoding| e == Encoding::Gzip;
        assert_eq!(choose(Some("br, gzip"), gzip_only), Encoding::Gzip);
        assert_eq!(choose(Some("br"), gzip_only), Encoding::Identity);
        let none = |_: Encoding| false;
        assert_eq!(choose(Some("br, gzip"), none), Encoding::Identity);
        // Identity refused and nothing else available: identity all the same.
        assert_eq!(choose(Some("identity;q=0, br"), none), Encoding::Identity);
    }
}
