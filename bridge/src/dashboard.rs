//! The dashboard's files at `/`: from the copy embedded in the binary (compressed at build time, see
//! `build.rs`), from a directory (`--dashboard-dir`, for dashboard development), or, with neither, a page
//! that says how to get a binary with the dashboard inside.
//!
//! Embedded files are sent in the encoding the client prefers among brotli, gzip and none (the `encoding`
//! module decides), with their content type, an entity tag (a request with a matching `If-None-Match`
//! gets 304), and caching by name: files whose name carries trunk's content hash never change
//! (`immutable`, a year), anything else (`index.html`) is checked each time (`no-cache`).

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use crate::encoding::{self, Encoding};

/// One file of the dashboard, in every encoding it is served in.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its path under `/`, without the leading slash (`index.html`, `snippets/x/inline0.js`).
    pub path: &'static str,
    /// A digest of its bytes, the base of its entity tags.
    pub etag: &'static str,
    /// Its bytes.
    pub identity: &'static [u8],
    /// The same, gzip-compressed; `None` where compression does not make it smaller.
    pub gzip: Option<&'static [u8]>,
    /// The same, brotli-compressed; `None` where compression does not make it smaller.
    pub br: Option<&'static [u8]>,
}

impl Asset {
    fn bytes(&self, encoding: Encoding) -> &'static [u8] {
        match encoding {
            Encoding::Brotli => self.br.unwrap_or(self.identity),
            Encoding::Gzip => self.gzip.unwrap_or(self.identity),
            Encoding::Identity => self.identity,
        }
    }

    fn has(&self, encoding: Encoding) -> bool {
        match encoding {
            Encoding::Brotli => self.br.is_some(),
            Encoding::Gzip => self.gzip.is_some(),
            Encoding::Identity => true,
        }
    }

    /// The entity tag of one encoding of the file (each representation has its own).
    fn tag(&self, encoding: Encoding) -> String {
        match encoding.header() {
            Some(coding) => format!("\"{}-{coding}\"", self.etag),
            None => format!("\"{}\"", self.etag),
        }
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded_dashboard.rs"));

/// The dashboard built into this binary: empty unless it was built with `HERALD_DASHBOARD_DIST` (as
/// `cargo xtask dist` and `cargo xtask run` do).
pub fn embedded() -> &'static [Asset] {
    EMBEDDED
}

/// The `Content-Type` of a file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The fewest hex digits a name part needs to count as a content hash. trunk writes its 64-bit hash in hex
/// without leading zeros, so a hash has 16 digits only 15 times in 16 (`herald-dashboard-ebf1e5cd0a7591d.js`
/// has 15); 12 misses one hash in 65,536, which is then merely checked each time (`no-cache`), never kept stale.
const HASH_DIGITS_MIN: usize = 12;

/// True when the file's name carries a content hash (trunk names its outputs `name-<hex>.ext` or
/// `name-<hex>_bg.wasm`): such a file never changes under its name, so browsers may keep it for good.
pub fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.split('.').next().unwrap_or(name);
    stem.split(['-', '_'])
        .skip(1)
        .any(|part| part.len() >= HASH_DIGITS_MIN && part.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Cache-Control` of a file.
pub fn cache_control(path: &str) -> &'static str {
    if is_hashed(path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Answers a request for a dashboard file from `assets`. Unknown paths without an extension are the app's
/// own routes and get `index.html`; unknown files get 404.
pub fn serve(
    assets: &'static [Asset],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let found = assets.iter().find(|a| a.path == path).or_else(|| {
        let last = path.rsplit('/').next().unwrap_or(path);
        (!last.contains('.'))
            .then(|| assets.iter().find(|a| a.path == "index.html"))
            .flatten()
    });
    let Some(asset) = found else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let encoding = encoding::choose(accept, |e| asset.has(e));
    let tag = asset.tag(encoding);
    let mut response = if matches_tag(headers, &tag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes(encoding).into_response()
    };
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(asset.path)),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control(asset.path)),
    );
    out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        out.insert(header::ETAG, value);
    }
    if let Some(coding) = encoding.header() {
        out.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    response
}

/// True when `If-None-Match` names `tag` (or `*`); weak tags compare as strong ones here.
fn matches_tag(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*")
}

/// The page served at `/` when there is no dashboard: the bridge works, and this is how to get the rest.
pub async fn not_built() -> Response {
    let page = "<!doctype html><meta charset=utf-8><title>Herald: dashboard not built</title>\
         <h1>The dashboard has not been built into this herald</h1>\
         <p>The bridge is running (WebSocket at <code>/ws</code>, counters at <code>/metrics</code>), \
         but this <code>herald</code> was built without its dashboard (a plain <code>cargo build</code> \
         or <code>cargo install</code>).</p>\
         <p>To get a <code>herald</code> with the dashboard inside, from a checkout of Herald:</p><ul>\
         <li><code>cargo xtask dist</code> builds it, with a Debian package and a tarball, into \
         <code>target/dist/</code>; <code>cargo xtask run</code> builds and runs it;</li>\
         <li>or build the dashboard (<code>cargo xtask web</code>, trunk, into <code>dist/</code>), then \
         <code>HERALD_DASHBOARD_DIST=dist cargo build --release -p herald-node --bin herald</code>;</li>\
         <li>or serve a built dashboard from disk: <code>herald node --bridge --dashboard-dir DIR</code>.</li>\
         </ul>";
    (StatusCode::SERVICE_UNAVAILABLE, Html(page)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_outputs_are_hashed_and_index_is_not() {
        assert!(is_hashed("herald-dashboard-5f3b1d0c9a7e2b44_bg.wasm"));
        assert!(is_hashed("herald-dashboard-5f3b1d0c9a7e2b44.js"));
        // A hash with a leading zero, as trunk writes it (15 digits).
        assert!(is_hashed("herald-dashboard-ebf1e5cd0a7591d_bg.wasm"));
        assert!(is_hashed("herald-dashboard-ebf1e5cd0a7591d.js"));
        assert!(is_hashed("style-0123456789abcdef.css"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("favicon.ico"));
        assert!(!is_hashed("snippets/web-sys-1/inline0.js"));
        assert!(!is_hashed("herald-dashboard-cafe.js"));
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(
            cache_control("herald-dashboard-5f3b1d0c9a7e2b44_bg.wasm"),
            "public, max-age=31536000, immutable"
        );
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("a-1.wasm"), "application/wasm");
        assert_eq!(content_type("a-1.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("noextension"), "application/octet-stream");
    }
}
