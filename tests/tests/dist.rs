//! What `cargo xtask dist` writes into `target/dist/`, checked as a LAN host would meet it:
//!
//! - the `.deb` (`dpkg-deb -x`) and the tarball are extracted, the checkout's `dist/` is moved away (a path
//!   of the build machine baked into the binary would be caught), and each `herald` runs from a directory
//!   with no checkout around it (HOME elsewhere): `/` serves the embedded app, the wasm in brotli, gzip or
//!   as it is according to `Accept-Encoding`, `/metrics` answers, and headless Chromium renders the peers
//!   view with a second node in it;
//! - both unit files pass `systemd-analyze verify` (only the binary's path changed to the extracted one), and
//!   `systemd-analyze security` rates their hardening under 2 ("OK");
//! - the package's file list, control fields, conffiles and unit hardening are what a host needs;
//! - `apt-get install` of the `.deb` works, `systemctl enable herald` then `apt-get remove` leaves it disabled,
//!   and `apt-get purge` leaves nothing: for real, on overlays of `/etc`, `/usr` and `/var` in a private mount
//!   namespace, so this machine keeps its packages;
//! - the maintainer scripts, run for real in a private mount namespace over a copy of `/etc` (no chroot, no
//!   change to this machine), create the `herald` system user, give the key `root:herald 0640`, which the
//!   node accepts when run as that user; a node run as the unit runs it (that user, the packaged config,
//!   `--state-dir /var/lib/herald`) keeps its id across a restart; on purge the user, its group and
//!   `/var/lib/herald` go.
//!
//! Every test here is `#[ignore]`d for plain `cargo test`: it needs the release build and the package, which
//! `cargo xtask test` makes first (step `dist package`) and then runs these (step `dist tests`). By hand:
//! `cargo xtask dist && cargo test -p herald-tests --test dist -- --ignored`. They need root (CI is).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use herald_tests::browser::{free_tcp_port, wait_listening, wait_texts, Driver};
use herald_tests::{sh, Running, TempDir};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the workspace")
}

/// `target/dist/` of this checkout, whatever CARGO_TARGET_DIR says (as `cargo xtask dist` writes it).
fn out_dir() -> PathBuf {
    workspace().join("target").join("dist")
}

fn deb() -> PathBuf {
    let arch = String::from_utf8(sh("dpkg", &["--print-architecture"]).stdout).unwrap();
    let path = out_dir().join(format!(
        "herald_{}_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    ));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask dist` first",
        path.display()
    );
    path
}

fn tarball() -> PathBuf {
    let prefix = format!("herald-{}-", env!("CARGO_PKG_VERSION"));
    std::fs::read_dir(out_dir())
        .expect("target/dist: run `cargo xtask dist` first")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".tar.gz"))
        })
        .expect("no herald-VERSION-TARGET.tar.gz in target/dist: run `cargo xtask dist` first")
}

/// Panics loudly when a tool the test needs is missing, naming what installs it.
fn require(tool: &str, installed_by: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "CANNOT RUN: `{tool}` is not installed ({installed_by}; `cargo xtask setup` installs it)"
    );
}

/// The package extracted with `dpkg-deb -x`.
fn extract_deb(into: &TempDir) -> PathBuf {
    sh(
        "dpkg-deb",
        &["-x", deb().to_str().unwrap(), into.path().to_str().unwrap()],
    );
    into.path().to_path_buf()
}

/// Moves the checkout's `dist/` aside while alive; puts it back when dropped (also after a failure).
struct DistMovedAway {
    dist: PathBuf,
    aside: PathBuf,
}

impl DistMovedAway {
    fn new() -> DistMovedAway {
        let dist = workspace().join("dist");
        let aside = workspace().join("dist.moved-by-dist-test");
        if dist.exists() {
            std::fs::rename(&dist, &aside).expect("move dist/ aside");
        }
        DistMovedAway { dist, aside }
    }
}

impl Drop for DistMovedAway {
    fn drop(&mut self) {
        if self.aside.exists() {
            let _ = std::fs::rename(&self.aside, &self.dist);
        }
    }
}

/// One HTTP/1.1 exchange: status, headers (lowercase names), body.
fn get(
    addr: &str,
    path: &str,
    accept_encoding: Option<&str>,
) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect to the bridge");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(accept) = accept_encoding {
        request.push_str(&format!("Accept-Encoding: {accept}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &bytes[..], &mut out).expect("valid brotli");
    out
}

/// `herald ARGS...` from `dir` (no checkout around it), HOME there too, pinned to loopback and `group`.
fn herald_in(herald: &Path, dir: &Path, group: u16, args: &[&str]) -> Running {
    let mut command = Command::new(herald);
    command
        .args(args)
        .args(["--interface", "127.0.0.1", "--group"])
        .arg(format!("239.255.72.68:{group}"))
        .current_dir(dir)
        .env("HOME", dir)
        .env_remove("XDG_STATE_HOME")
        .stdin(Stdio::null());
    Running::start(command)
}

/// Checks one extracted `herald`: it serves the embedded dashboard in every encoding, `/metrics`, and the
/// peers view renders in Chromium.
async fn serves_the_embedded_dashboard(herald: &Path, label: &str, driver: &Driver) {
    let home = TempDir::new(&format!("dist-home-{label}"));
    let group = 20_000 + ((std::process::id() + label.len() as u32 * 131) % 20_000) as u16;
    let bridge = format!("127.0.0.1:{}", free_tcp_port());
    let _node = herald_in(
        herald,
        home.path(),
        group,
        &["node", "--name", "packaged", "--bridge", &bridge, "--json"],
    );
    let _peer = herald_in(
        herald,
        home.path(),
        group,
        &["node", "--name", "neighbour", "--json"],
    );
    wait_listening(&bridge).await;

    let (status, headers, body) = get(&bridge, "/", Some("gzip"));
    assert_eq!(
        status, 200,
        "{label}: / is the app, not the page for a missing dashboard"
    );
    assert_eq!(headers["content-encoding"], "gzip", "{label}");
    assert_eq!(headers["cache-control"], "no-cache", "{label}");
    let index = String::from_utf8(gunzip(&body)).unwrap();
    let wasm = index
        .split(['"', '\''])
        .find(|s| s.ends_with(".wasm"))
        .unwrap_or_else(|| panic!("{label}: index.html names no .wasm: {index}"))
        .trim_start_matches('/')
        .to_owned();
    let wasm_path = format!("/{wasm}");
    let (status, headers, plain) = get(&bridge, &wasm_path, None);
    assert_eq!(status, 200, "{label}: {wasm_path}");
    assert!(
        !headers.contains_key("content-encoding"),
        "{label}: {headers:?}"
    );
    assert_eq!(headers["content-type"], "application/wasm");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(plain.starts_with(b"\0asm"), "{label}: not a wasm module");
    let (_, headers, gz) = get(&bridge, &wasm_path, Some("gzip"));
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(gunzip(&gz), plain);
    let (_, headers, br) = get(&bridge, &wasm_path, Some("gzip, deflate, br"));
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(unbrotli(&br), plain);
    println!(
        "{label}: the dashboard's wasm is {} bytes, {} gzipped, {} with brotli",
        plain.len(),
        gz.len(),
        br.len()
    );
    let (status, _, metrics) = get(&bridge, "/metrics", None);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&metrics).contains("herald_bridge_clients"));

    let profile = TempDir::new(&format!("dist-profile-{label}"));
    let client = driver.browser(&profile).await;
    client.goto(&format!("http://{bridge}/")).await.unwrap();
    wait_texts(
        &client,
        "the neighbour in the peers view",
        "peer-name",
        |names| names.iter().any(|n| n == "neighbour"),
    )
    .await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs `cargo xtask dist`; run by `cargo xtask test` (step `dist tests`)"]
async fn the_packaged_herald_serves_its_embedded_dashboard_with_no_checkout_around() {
    let from_deb = TempDir::new("dist-deb");
    let root = extract_deb(&from_deb);
    let from_tarball = TempDir::new("dist-tarball");
    sh(
        "tar",
        &[
            "-xzf",
            tarball().to_str().unwrap(),
            "-C",
            from_tarball.path().to_str().unwrap(),
        ],
    );
    let unpacked = std::fs::read_dir(from_tarball.path())
        .unwrap()
        .next()
        .expect("one folder in the tarball")
        .unwrap()
        .path();
    for file in [
        "herald",
        "README.md",
        "herald.toml",
        "systemd/herald.service",
        "systemd/herald-dynip.service",
    ] {
        assert!(unpacked.join(file).is_file(), "the tarball lacks {file}");
    }

    let _moved = DistMovedAway::new();
    let checkout = workspace().to_string_lossy().into_owned();
    let driver = Driver::start();
    for (label, herald) in [
        ("deb", root.join("usr/bin/herald")),
        ("tarball", unpacked.join("herald")),
    ] {
        // No path of the build machine inside: not the checkout, not its dist/.
        let bytes = std::fs::read(&herald).unwrap();
        assert!(
            !bytes
                .windows(checkout.len())
                .any(|w| w == checkout.as_bytes()),
            "{label}: the binary holds the checkout's path {checkout}"
        );
        serves_the_embedded_dashboard(&herald, label, &driver).await;
    }
}

#[test]
#[ignore = "needs `cargo xtask dist`; run by `cargo xtask test` (step `dist tests`)"]
fn both_units_pass_systemd_analyze_verify() {
    require("systemd-analyze", "Debian's systemd package");
    let extracted = TempDir::new("dist-units");
    let root = extract_deb(&extracted);
    let herald = root.join("usr/bin/herald");
    let units = TempDir::new("dist-units-verify");
    let mut paths = Vec::new();
    for unit in ["herald.service", "herald-dynip.service"] {
        // `verify` checks that ExecStart's binary exists: point it at the extracted one, change nothing else.
        let text = std::fs::read_to_string(root.join("lib/systemd/system").join(unit)).unwrap();
        let path = units.path().join(unit);
        std::fs::write(
            &path,
            text.replace("/usr/bin/herald", herald.to_str().unwrap()),
        )
        .unwrap();
        paths.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&paths)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {stderr}"
    );
    // verify exits 0 on unknown keys and unsafe settings too: it must have said nothing about our units.
    let about_ours: Vec<&str> = stderr.lines().filter(|l| l.contains("herald")).collect();
    assert!(
        about_ours.is_empty(),
        "systemd-analyze verify: {about_ours:#?}"
    );
    // And the hardening, as systemd rates it (0 = locked down, 10 = fully exposed; under 2 is "OK").
    for path in &paths {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true"])
            .arg(path)
            .output()
            .expect("run systemd-analyze security");
        let text = String::from_utf8_lossy(&out.stdout);
        let level: f64 = text
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for "))
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level for {}: {text}", path.display()));
        println!("{}: exposure {level}", path.display());
        assert!(
            level < 2.0,
            "{} is exposed at {level}: {text}",
            path.display()
        );
    }
}

#[test]
#[ignore = "needs `cargo xtask dist`; run by `cargo xtask test` (step `dist tests`)"]
fn the_package_holds_what_a_lan_host_needs() {
    let deb = deb();
    let deb = deb.to_str().unwrap();
    let listing = String::from_utf8(sh("dpkg-deb", &["-c", deb]).stdout).unwrap();
    let mut files: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in listing.lines() {
        // -rwxr-xr-x root/root  12345 2026-11-29 10:00 ./usr/bin/herald
        let fields: Vec<&str> = line.split_whitespace().collect();
        let path = fields[5].trim_start_matches('.').to_owned();
        if !fields[0].starts_with('d') {
            files.insert(path, (fields[0].to_owned(), fields[1].to_owned()));
        }
    }
    let expected = BTreeMap::from([
        ("/usr/bin/herald", "-rwxr-xr-x"),
        ("/lib/systemd/system/herald.service", "-rw-r--r--"),
        ("/lib/systemd/system/herald-dynip.service", "-rw-r--r--"),
        ("/etc/herald/herald.toml", "-rw-r--r--"),
        ("/usr/share/doc/herald/README.md.gz", "-rw-r--r--"),
        ("/usr/share/doc/herald/changelog.gz", "-rw-r--r--"),
        ("/usr/share/doc/herald/copyright", "-rw-r--r--"),
    ]);
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        expected.keys().copied().collect::<Vec<_>>(),
        "{listing}"
    );
    for (path, mode) in expected {
        assert_eq!(
            files[path],
            (mode.to_owned(), "root/root".to_owned()),
            "{path}"
        );
    }

    let field = |name: &str| {
        String::from_utf8(sh("dpkg-deb", &["-f", deb, name]).stdout)
            .unwrap()
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), "herald");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert!(
        field("Depends").contains("libc6 (>="),
        "{}",
        field("Depends")
    );
    assert!(field("Depends").contains("passwd"));
    let info = String::from_utf8(sh("dpkg-deb", &["-I", deb]).stdout).unwrap();
    for script in ["postinst", "prerm", "postrm", "conffiles", "md5sums"] {
        assert!(
            info.contains(script),
            "no {script} in the control area: {info}"
        );
    }

    let control = TempDir::new("dist-control");
    sh("dpkg-deb", &["-e", deb, control.path().to_str().unwrap()]);
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert_eq!(conffiles, "/etc/herald/herald.toml\n");

    let extracted = TempDir::new("dist-files");
    let root = extract_deb(&extracted);
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/herald.service")).unwrap();
    for line in [
        "User=herald",
        "ExecStart=/usr/bin/herald node --config /etc/herald/herald.toml --state-dir /var/lib/herald",
        "StateDirectory=herald",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "Restart=on-failure",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "herald.service lacks {line:?}");
    }
    let dynip =
        std::fs::read_to_string(root.join("lib/systemd/system/herald-dynip.service")).unwrap();
    assert!(dynip.lines().any(
        |l| l.starts_with("ExecStart=/usr/bin/herald dynip serve --config /etc/herald/herald.toml")
    ));
    // The packaged binary knows every key of the packaged config (a typo would stop the service).
    let config = root.join("etc/herald/herald.toml");
    let out = Command::new(root.join("usr/bin/herald"))
        .args([
            "peers",
            "--interface",
            "127.0.0.1",
            "--group",
            "239.255.72.68:7999",
            "--wait",
            "0.1",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // So does herald-dynip.service's command: it reads the same file and serves until stopped (`timeout`
    // stops it after 2 s and exits 124; a config it refused would have ended it at once with 2).
    let state = TempDir::new("dist-dynip-state");
    let out = Command::new("timeout")
        .args(["-s", "TERM", "2"])
        .arg(root.join("usr/bin/herald"))
        .args(["dynip", "serve", "--config"])
        .arg(&config)
        .args(["--state-dir", state.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--no-advertise"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(124),
        "herald dynip serve with the packaged config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        state.path().join("iplog.db").is_file(),
        "the IP log is in the state directory"
    );
}

/// The maintainer scripts, for real but out of harm's way: a private mount namespace with a copy of `/etc`
/// over `/etc`, an empty `/var/lib` and `/run`. The script below prints what it sees at each step.
const MAINTAINER_RUN: &str = r#"
set -e
cp -a /etc "$WORK/etc"
mount --bind "$WORK/etc" /etc
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /run
# What dpkg unpacks before configure: here, the conffile.
mkdir -p /etc/herald
cp "$ROOT/etc/herald/herald.toml" /etc/herald/herald.toml
printf '%s\n' 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef > /etc/herald/key
chmod 600 /etc/herald/key
echo "before: $(getent passwd herald || echo none)"
"$CONTROL/postinst" configure
echo "user: $(getent passwd herald)"
echo "group: $(getent group herald | cut -d: -f1)"
echo "key: $(stat -c '%U:%G %a' /etc/herald/key)"
if setpriv --reuid herald --regid herald --clear-groups "$HERALD" peers --key-file /etc/herald/key \
    --interface 127.0.0.1 --group "239.255.72.68:$GROUP" --wait 0.2 >/dev/null 2>"$WORK/as-herald.err"; then
  echo "as herald: key accepted"
else
  echo "as herald: refused: $(cat "$WORK/as-herald.err")"
fi
# As the unit runs it: the herald user, the packaged config, --state-dir /var/lib/herald (made by systemd's
# StateDirectory=, owned by the user). Twice: the node keeps its id across restarts.
mkdir -p /var/lib/herald && chown herald:herald /var/lib/herald && chmod 750 /var/lib/herald
run_node() {
  umask 0027  # the unit's UMask
  setpriv --reuid herald --regid herald --clear-groups "$HERALD" node --config /etc/herald/herald.toml \
    --state-dir /var/lib/herald --name packaged --key-file /etc/herald/key --interface 127.0.0.1 \
    --group "239.255.72.68:$GROUP" --bridge "127.0.0.1:$BRIDGE" >/dev/null 2>"$WORK/node.err" &
  pid=$!
  i=0
  while ! grep -q "Ctrl-C to leave" "$WORK/node.err" && [ $i -lt 150 ]; do sleep 0.1; i=$((i+1)); done
  kill -TERM $pid
  wait $pid || true
  sed -n 's/.*node packaged (\([0-9a-f]*\)).*/\1/p' "$WORK/node.err"
}
echo "node id: $(run_node)"
echo "node id again: $(run_node)"
echo "id file: $(stat -c '%U %a' /var/lib/herald/ids/*)"
echo "node said: $(tr '\n' ' ' < "$WORK/node.err")"
"$CONTROL/postinst" configure 0.1.0
echo "again: $(getent passwd herald | cut -d: -f1)"
"$CONTROL/prerm" remove
"$CONTROL/postrm" remove
echo "after remove: $(getent passwd herald | cut -d: -f1)"
"$CONTROL/postrm" purge
echo "after purge: user=$(getent passwd herald || echo none) group=$(getent group herald || echo none) state=$(ls -d /var/lib/herald 2>/dev/null || echo none) key=$(ls /etc/herald/key)"
"#;

#[test]
#[ignore = "needs `cargo xtask dist`; run by `cargo xtask test` (step `dist tests`)"]
fn the_maintainer_scripts_create_and_remove_the_user_cleanly() {
    require("unshare", "util-linux");
    require("setpriv", "util-linux");
    let had_user = Command::new("getent")
        .args(["passwd", "herald"])
        .status()
        .unwrap()
        .success();
    let extracted = TempDir::new("dist-scripts");
    let root = extract_deb(&extracted);
    let control = TempDir::new("dist-scripts-control");
    sh(
        "dpkg-deb",
        &[
            "-e",
            deb().to_str().unwrap(),
            control.path().to_str().unwrap(),
        ],
    );
    let work = TempDir::new("dist-scripts-work");
    let group = 20_000 + ((std::process::id() + 3) % 20_000) as u16;
    let said = run_in_private_mounts(
        MAINTAINER_RUN,
        &[
            ("WORK", work.path().as_os_str()),
            ("CONTROL", control.path().as_os_str()),
            ("HERALD", root.join("usr/bin/herald").as_os_str()),
            ("ROOT", root.as_os_str()),
            ("GROUP", group.to_string().as_ref()),
            ("BRIDGE", free_tcp_port().to_string().as_ref()),
        ],
    );
    let line = |prefix: &str| said.line(prefix);
    assert_eq!(line("before: "), "none");
    // herald:x:UID:GID:Herald LAN node:/var/lib/herald:/usr/sbin/nologin, a system uid.
    let user: Vec<String> = line("user: ").split(':').map(str::to_owned).collect();
    assert_eq!(user[0], "herald");
    assert!(
        user[2].parse::<u32>().unwrap() < 1000,
        "not a system user: {user:?}"
    );
    assert_eq!(user[5], "/var/lib/herald");
    assert_eq!(user[6], "/usr/sbin/nologin");
    assert_eq!(line("group: "), "herald");
    assert_eq!(line("key: "), "root:herald 640");
    assert_eq!(line("as herald: "), "key accepted");
    let id = line("node id: ");
    assert!(
        !id.is_empty(),
        "the node did not start as the herald user: {}",
        said.0
    );
    assert_eq!(line("node id again: "), id, "a restarted node keeps its id");
    assert_eq!(
        line("id file: "),
        "herald 640",
        "the id lives in /var/lib/herald, the user's: {}",
        said.0
    );
    assert_eq!(
        line("again: "),
        "herald",
        "configuring twice keeps the user"
    );
    assert_eq!(
        line("after remove: "),
        "herald",
        "remove keeps the user; purge removes it"
    );
    assert_eq!(
        line("after purge: "),
        "user=none group=none state=none key=/etc/herald/key"
    );
    // Nothing of this reached the machine itself.
    let has_user = Command::new("getent")
        .args(["passwd", "herald"])
        .status()
        .unwrap()
        .success();
    assert_eq!(has_user, had_user, "the test changed this machine's users");
}

/// `apt install ./herald_*.deb`, for real but on throw-away layers: in a private mount namespace, `/etc`,
/// `/usr` and `/var` are overlays whose changes go to a tmpfs, and `/run` is empty (no running systemd, as in
/// a container). The script prints what it sees at each step.
const APT_RUN: &str = r#"
set -e
mount -t tmpfs tmpfs "$WORK"
for d in etc usr var; do
  mkdir -p "$WORK/$d.up" "$WORK/$d.work"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$WORK/$d.up,workdir=$WORK/$d.work" "/$d"
done
mount -t tmpfs tmpfs /run
export DEBIAN_FRONTEND=noninteractive
apt-get install -y "$DEB" >"$WORK/apt.log" 2>&1 || { echo "apt failed: $(tail -5 "$WORK/apt.log")"; exit 1; }
echo "status: $(dpkg-query -W -f='${Status} ${Version}' herald)"
echo "user: $(getent passwd herald | cut -d: -f1,6,7)"
echo "files: $(ls /usr/bin/herald /lib/systemd/system/herald.service /etc/herald/herald.toml | tr '\n' ' ')"
systemctl enable herald.service >/dev/null 2>&1
echo "enabled: $(systemctl is-enabled herald.service 2>&1)"
apt-get remove -y herald >"$WORK/apt.log" 2>&1
echo "removed: link=$(ls /etc/systemd/system/multi-user.target.wants/herald.service 2>/dev/null || echo none) user=$(getent passwd herald | cut -d: -f1) config=$(ls /etc/herald/herald.toml)"
apt-get purge -y herald >"$WORK/apt.log" 2>&1
echo "purged: $(dpkg-query -W herald 2>/dev/null || echo none) user=$(getent passwd herald || echo none) config=$(ls /etc/herald 2>/dev/null || echo none)"
"#;

#[test]
#[ignore = "needs `cargo xtask dist`; run by `cargo xtask test` (step `dist tests`)"]
fn apt_installs_the_package_and_purge_leaves_nothing() {
    require("apt-get", "Debian's apt");
    require("unshare", "util-linux");
    let was_installed = installed_here();
    let work = TempDir::new("dist-apt");
    let said = run_in_private_mounts(
        APT_RUN,
        &[
            ("WORK", work.path().as_os_str()),
            ("DEB", deb().as_os_str()),
        ],
    );
    let line = |prefix: &str| said.line(prefix);
    assert_eq!(
        line("status: "),
        format!("install ok installed {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(line("user: "), "herald:/var/lib/herald:/usr/sbin/nologin");
    assert_eq!(
        line("files: ").trim(),
        "/etc/herald/herald.toml /lib/systemd/system/herald.service /usr/bin/herald"
    );
    assert_eq!(line("enabled: "), "enabled");
    // Removed: the service is disabled and gone, the user and the edited config stay until purge.
    assert_eq!(
        line("removed: "),
        "link=none user=herald config=/etc/herald/herald.toml"
    );
    assert_eq!(line("purged: "), "none user=none config=none");
    // Nothing of this reached the machine itself.
    assert_eq!(
        installed_here(),
        was_installed,
        "the test changed this machine's packages"
    );
}

/// Whether this machine itself has the herald package.
fn installed_here() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "herald"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// What a script printed on its standard output.
struct Said(String);

impl Said {
    /// The rest of the first line starting with `prefix` (the test fails when there is none).
    fn line(&self, prefix: &str) -> String {
        self.0
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line in: {}", self.0))
            .to_owned()
    }
}

/// Runs `script` with `sh` in a private mount namespace (what it mounts goes when it ends) with `env`, and
/// returns what it printed; the test fails, with its output, when the script fails.
fn run_in_private_mounts(script: &str, env: &[(&str, &std::ffi::OsStr)]) -> Said {
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .envs(env.iter().copied())
        .output()
        .expect("run unshare (needs root)");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the script failed: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Said(said)
}
