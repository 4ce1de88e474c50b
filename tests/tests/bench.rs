//! The benchmarks as programs: `herald-bench pubsub --processes` starts a subscriber process per subscriber,
//! each a node found by discovery on loopback (the group pinned to 127.0.0.1 on a port of this test's own),
//! and its one JSON line accounts for every message and every process. Figures are the benchmarks' to print;
//! this only checks that the counts add up. `herald-bench sites` (two loopback sites through a nats-server) too.

use std::process::Command;

use serde_json::Value;

/// Runs `herald-bench ARGS --json`; its last line, parsed.
fn bench_json(args: &[&str]) -> Value {
    let output = Command::new(herald_tests::binary("herald-bench"))
        .args(args)
        .arg("--json")
        .output()
        .expect("run herald-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "herald-bench failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().expect("a JSON line");
    serde_json::from_str(last).expect("JSON")
}

#[test]
fn pubsub_with_separate_processes_delivers_every_message_and_reports_each_process() {
    let figures = bench_json(&[
        "pubsub",
        "--processes",
        "--subscribers",
        "3",
        "--messages",
        "5000",
        "--size",
        "100",
        "--port",
        "27391",
    ]);
    assert_eq!(figures["processes"], true, "{figures}");
    assert_eq!(figures["delivered"], 15_000, "{figures}");
    assert_eq!(figures["dropped"], 0, "{figures}");
    let rss = figures["peak_rss_kib"]
        .as_array()
        .expect("one entry per process");
    assert_eq!(
        rss.len(),
        4,
        "the publisher and three subscribers: {figures}"
    );
    assert!(
        rss.iter().all(|kib| kib.as_u64().unwrap_or(0) > 0),
        "{figures}"
    );
    assert!(figures["msgs_per_s_delivered"].as_f64().unwrap_or(0.0) > 0.0);
}

#[test]
fn sites_bench_accounts_for_every_message_and_every_figure() {
    let figures = bench_json(&[
        "sites",
        "--messages",
        "2000",
        "--sizes",
        "64",
        "--asks",
        "50",
        "--port",
        "27393",
    ]);
    let run = &figures["throughput"][0];
    assert_eq!(run["messages"], 2000, "{figures}");
    assert_eq!(run["herald_lost"], 0, "lossless at this rate: {figures}");
    // (CPU time is counted in clock ticks of 10 ms: too coarse to check on a run this short.)
    for key in ["herald_msgs_per_s", "nats_msgs_per_s"] {
        assert!(run[key].as_f64().unwrap_or(0.0) > 0.0, "{key}: {figures}");
    }
    for key in ["ask_p50_us", "nats_request_p50_us", "lan_ask_p50_us"] {
        assert!(
            figures[key].as_f64().unwrap_or(0.0) > 0.0,
            "{key}: {figures}"
        );
    }
    // Every path, with its processes in path order, the subscriber (a process of its own) last.
    let paths: Vec<(&str, Vec<&str>)> = run["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .map(|path| {
            assert!(path["msgs_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{path}");
            let processes = path["cpu_us_per_msg"].as_array().expect("processes");
            let names = processes
                .iter()
                .map(|p| p["process"].as_str().unwrap_or(""))
                .collect();
            (path["path"].as_str().unwrap_or(""), names)
        })
        .collect();
    let node_pair = vec!["publisher node", "subscriber node"];
    let client_pair = vec!["publisher", "nats-server", "subscriber"];
    assert_eq!(
        paths,
        vec![
            (
                "across sites",
                vec![
                    "publisher node",
                    "gateway A",
                    "nats-server",
                    "gateway B",
                    "subscriber node"
                ]
            ),
            ("plain NATS pair", client_pair.clone()),
            ("NATS pair with Herald's header", client_pair),
            ("Herald LAN pair", node_pair),
        ],
        "{figures}"
    );
    assert_eq!(
        run["paths"][3]["lost"], 0,
        "a LAN pair is lossless: {figures}"
    );
}
