//! DynIP 0.1e: an old server's JSON log imported and exported byte for byte, and `report --legacy` recorded
//! by an old-style server.

use std::process::Command;

use herald_core::iplog::IpPeriod;
use herald_tests::{binary, Lan, TempDir};

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
/// microseconds only when not zero, no trailing newline. Times are whole milliseconds, which is what Herald
/// keeps.
const OLD_LOG: &str = r#"{"vm": ["198.51.100.12", "2026-11-23 14:06:56.739000"], "laptop-7": ["198.51.100.13", "2026-11-23 14:06:57"], "h\u00e9te": ["198.51.100.14", "2026-11-23 14:06:58.001000"]}"#;

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
    assert!(said.contains("3 new hosts"), "{said}");

    let hosts: Vec<String> = history(&db).into_iter().map(|p| p.host).collect();
    assert_eq!(hosts, ["h\u{e9}te", "laptop-7", "vm"], "history is by name");

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
        r#""vm": ["198.51.100.12", "2026-11-23 14:06:56.739000"]"#,
        r#""vm": ["198.51.100.99", "2026-11-24 09:00:00"]"#,
    );
    std::fs::write(&old, moved).unwrap();
    let again = herald(&["dynip", "import", &old, "--db", &db]);
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("0 new hosts, 2 extended, 1 moved"), "{said}");
    let vm: Vec<String> = history(&db)
        .into_iter()
        .filter(|p| p.host == "vm")
        .map(|p| p.ip.to_string())
        .collect();
    assert_eq!(vm, ["198.51.100.12", "198.51.100.99"]);
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
}
