//! Headless Chromium for tests, through Debian's chromedriver (fantoccini): start the driver, open a browser
//! session, and read or wait for the texts of `data-testid` elements.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::{TempDir, PATIENCE};

/// A free TCP port on loopback (bound then released).
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// chromedriver on a free port, killed on drop.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts `/usr/bin/chromedriver` and waits until it listens.
    pub fn start() -> Driver {
        let port = free_tcp_port();
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/chromedriver (apt install chromium-driver; `cargo xtask setup` does)");
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session (run as root, no network but loopback needed) with its profile in
    /// `profile`.
    pub async fn browser(&self, profile: &TempDir) -> Client {
        self.browser_with(profile, &[]).await
    }

    /// [`Driver::browser`] with more Chromium flags (`--force-dark-mode` for the dark colour scheme).
    pub async fn browser_with(&self, profile: &TempDir, extra: &[&str]) -> Client {
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,1800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let options = serde_json::json!({ "binary": "/usr/bin/chromium", "args": args });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a WebDriver session with headless Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The texts of the elements with `data-testid=testid`.
pub async fn texts(client: &Client, testid: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let found = client
        .find_all(Locator::Css(&format!("[data-testid={testid}]")))
        .await
        .unwrap_or_default();
    for element in found {
        texts.push(element.text().await.unwrap_or_default());
    }
    texts
}

/// Waits up to `patience` until the texts of `testid` satisfy `wanted`; panics naming `what` otherwise.
pub async fn wait_texts_within(
    client: &Client,
    patience: Duration,
    what: &str,
    testid: &str,
    wanted: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + patience;
    loop {
        let now = texts(client, testid).await;
        if wanted(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {what} within {patience:?}; {testid}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits up to [`PATIENCE`] until the texts of `testid` satisfy `wanted`.
pub async fn wait_texts(
    client: &Client,
    what: &str,
    testid: &str,
    wanted: impl Fn(&[String]) -> bool,
) {
    wait_texts_within(client, PATIENCE, what, testid, wanted).await;
}

/// Waits until something listens on `addr` (a node's bridge), up to [`PATIENCE`].
pub async fn wait_listening(addr: &str) {
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing ever listened on {addr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
