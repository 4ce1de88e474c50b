//! DynIP 0.1e: an old server's JSON log imported and exported byte for byte (times to the microsecond, as the
//! old server wrote them), and `report --legacy` recorded by an old-style server.

use std::process::Command;

use herald_core::iplog::IpPeriod;
use herald_tests::{binary, counterpart, Lan, TempDir, PYTHON};

fn herald(args: &[&str]) -> std::process::Output {
    Command::new(binary("herald"))
        .args(args)
        .output()
        .expect("run herald")
}

fn history(db: &str) -> Vec<IpPeriod> {
    let output = herald(&["dynip", "history", "--json", "--db", db]);
    assert!(output.status.success(), "history: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a period per line"))
        .collect()
}

/// An old server's file as it writes it: `", "` and `": "`, ASCII escapes, first-seen order (not sorted),
/// microseconds (any, not only whole milliseconds) and no fraction when they are zero, no trailing newline.
const OLD_LOG: &str = r#"{"vm": ["198.51.100.12", "2026-11-23 14:06:56.739046"], "laptop-7": ["198.51.100.13", "2026-11-23 14:06:57"], "h\u00e9te": ["198.51.100.14", "2026-11-23 14:06:58.000001"], "legacybox": ["198.51.100.12", "2026-11-29 06:39:54.798269"]}"#;

/// Imports `old` into a fresh database and exports it again; returns the exported text.
fn import_then_export(dir: &TempDir, old: &str) -> String {
    let (db, new) = (dir.join("roundtrip.db"), dir.join("roundtrip.json"));
    let imported = herald(&["dynip", "import", old, "--db", &db]);
    assert!(imported.status.success(), "import: {imported:?}");
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(said.contains(" 0 refused"), "{said}");
    let exported = herald(&[
        "dynip",
        "export",
        "--format",
        "dynip-json",
        "--db",
        &db,
        "--output",
        &new,
    ]);
    assert!(exported.status.success(), "export: {exported:?}");
    std::fs::read_to_string(&new).unwrap()
}

/// Writes a log with the independent counterpart, as the old server writes one (`str(datetime)`).
fn python_log(path: &str, extra: &[&str]) -> String {
    let output = Command::new(PYTHON)
        .arg(counterpart("dynip_log.py"))
        .args(["--log", path])
        .args(extra)
        .output()
        .expect("run python3");
    assert!(output.status.success(), "dynip_log.py: {output:?}");
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn an_old_log_imported_and_exported_is_the_same_file_byte_for_byte() {
    let dir = TempDir::new("legacy-dynip-roundtrip");
    let (old, db, new) = (
        dir.join("old.json"),
        dir.join("iplog.db"),
        dir.join("new.json"),
    );
    std::fs::write(&old, OLD_LOG).unwrap();
    let imported = herald(&["dynip", "import", &old, "--db", &db]);
    assert!(imported.status.success(), "import: {imported:?}");
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(said.contains("4 new hosts"), "{said}");

    let hosts: Vec<String> = history(&db).into_iter().map(|p| p.host).collect();
    assert_eq!(
        hosts,
        ["h\u{e9}te", "laptop-7", "legacybox", "vm"],
        "history is by name"
    );

    let exported = herald(&[
        "dynip",
        "export",
        "--format",
        "dynip-json",
        "--db",
        &db,
        "--output",
        &new,
    ]);
    assert!(exported.status.success(), "export: {exported:?}");
    assert_eq!(std::fs::read_to_string(&new).unwrap(), OLD_LOG);

    // Importing the same file again changes nothing but the report counts; a later move is a new period.
    let moved = OLD_LOG.replace(
        r#""vm": ["198.51.100.12", "2026-11-23 14:06:56.739046"]"#,
        r#""vm": ["198.51.100.99", "2026-11-24 09:00:00"]"#,
    );
    std::fs::write(&old, moved).unwrap();
    let again = herald(&["dynip", "import", &old, "--db", &db]);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("0 new hosts, 3 extended, 1 moved"), "{said}");
    let vm: Vec<String> = history(&db)
        .into_iter()
        .filter(|p| p.host == "vm")
        .map(|p| p.ip.to_string())
        .collect();
    assert_eq!(vm, ["198.51.100.12", "198.51.100.99"]);
}

/// Issue 22: what the real DynIP 0.1e server wrote (arbitrary microseconds, or none when they are zero) comes
/// back byte for byte, for logs written now and at arbitrary moments of the past year.
#[test]
fn logs_the_old_server_wrote_round_trip_byte_for_byte_to_the_microsecond() {
    let dir = TempDir::new("legacy-dynip-micros");
    let old = dir.join("old.json");
    for when in [&[][..], &["--past"][..]] {
        let mut args = when.to_vec();
        args.extend([
            "--zero-micro",
            "whole-second",
            "legacybox=198.51.100.12",
            "whole-second=198.51.100.13",
            "caf\u{e9}=198.51.100.14",
            "laptop-7=198.51.100.15",
            "box-9=198.51.100.16",
        ]);
        let written = python_log(&old, &args);
        let whole = written
            .split(r#""whole-second": ["198.51.100.13", ""#)
            .nth(1)
            .unwrap();
        assert_eq!(
            whole.find('"'),
            Some(19),
            "no fraction when it is zero: {written}"
        );
        assert_eq!(import_then_export(&dir, &old), written, "{when:?}");
        std::fs::remove_file(dir.join("roundtrip.db")).unwrap();
    }
    // The issue's own line.
    let line = r#"{"legacybox": ["198.51.100.12", "2026-11-29 06:39:54.798269"]}"#;
    std::fs::write(&old, line).unwrap();
    assert_eq!(import_then_export(&dir, &old), line);
}

#[test]
fn a_file_that_is_not_an_old_log_is_refused_and_bad_entries_are_named() {
    let dir = TempDir::new("legacy-dynip-bad");
    let (file, db) = (dir.join("bad.json"), dir.join("iplog.db"));
    std::fs::write(&file, "[1, 2]").unwrap();
    let output = herald(&["dynip", "import", &file, "--db", &db]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not an old DynIP log"));

    // The old server stored names verbatim: one with a newline, one with a bad address, one good.
    std::fs::write(
        &file,
        r#"{"box\n": ["198.51.100.2", "2026-11-23 10:00:00"], "odd": ["not-an-ip", "2026-11-23 10:00:00"], "good": ["198.51.100.3", "2026-11-23 10:00:01.5"]}"#,
    )
    .unwrap();
    let output = herald(&["dynip", "import", &file, "--db", &db]);
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("1 new hosts") && said.contains("2 refused"),
        "{said}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(r#""box\n""#) && stderr.contains(r#""odd""#),
        "{stderr}"
    );
    let hosts: Vec<String> = history(&db).into_iter().map(|p| p.host).collect();
    assert_eq!(hosts, ["good"]);
}

#[test]
fn report_legacy_is_recorded_by_an_old_style_server_whose_log_herald_then_imports() {
    let lan = Lan::new(2);
    let dir = TempDir::new("legacy-dynip-report");
    let (log, db) = (dir.join("dynip.json"), dir.join("iplog.db"));
    let listen = format!("{}:28630", Lan::ip(1));
    let server = lan.counterpart(
        1,
        "dynip_server.py",
        &[
            "--listen",
            &listen,
            "--log",
            &log,
            "--count",
            "1",
            "--seconds",
            "20",
        ],
    );
    // The old server has no acknowledgement; the datagram is sent once per run, so send until logged.
    let mut logged = None;
    for _ in 0..20 {
        let output = lan.run(
            2,
            &[
                "dynip",
                "report",
                "--legacy",
                "--server",
                &Lan::ip(1),
                "--name",
                "box-2",
            ],
        );
        assert!(output.status.success(), "report --legacy: {output:?}");
        logged = server.try_take(|e| e["event"] == "logged");
        if logged.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let logged = logged.unwrap_or_else(|| {
        server.wait_for("the old server's log line", |e| e["event"] == "logged")
    });
    assert_eq!(logged["host"], "box-2");
    assert_eq!(logged["ip"], Lan::ip(2));

    let imported = herald(&["dynip", "import", &log, "--db", &db]);
    assert!(imported.status.success(), "{imported:?}");
    let periods = history(&db);
    assert_eq!(periods.len(), 1, "{periods:?}");
    assert_eq!(periods[0].host, "box-2");
    assert_eq!(periods[0].ip.to_string(), Lan::ip(2));
    // And what that server wrote (its clock's microseconds) comes back out unchanged.
    let written = std::fs::read_to_string(&log).unwrap();
    assert_eq!(import_then_export(&dir, &log), written);
}
