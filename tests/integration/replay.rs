//! `ringback replay` (issue 14): the whole state rebuilt from the event log into a new
//! directory is the state the live service built — for the real corpus and for a bench-sized
//! run of the bench mix sent concurrently — and the rebuilt directory serves it.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::blackbox::{Daemon, TOKEN, config_with_storage};
use crate::helpers::data_path;

/// Webhooks of the bench mix (bench/smartflo.lua): 60 % a missed call from a new customer,
/// 15 % another missed call from a recent one, 15 % an answered call with a recent one, 10 %
/// a call received on the server.
const BENCH_WEBHOOKS: usize = 1500;
const CLIENTS: usize = 16;

fn bench_webhook(i: usize) -> (&'static str, Value) {
    let slot = i % 20;
    let recent = if i >= 20 {
        i - 20 - slot + slot % 12
    } else {
        i
    };
    let (trigger, customer, status) = match slot {
        0..12 => ("call_hangup_missed", i, "missed"),
        12..15 => ("call_hangup_missed", recent, "missed"),
        15..18 => ("call_hangup_answered", recent, "answered"),
        _ => ("call_received_on_server", i, "received"),
    };
    let mut body = json!({
        "call_id": format!("1792000000.{i}"), "uuid": format!("rp{i}"),
        "caller_id_number": format!("98762{customer:05}"), "direction": "inbound",
        "start_stamp": "2026-05-28 11:29:00", "call_status": status,
        "notes": "bench traffic, realistic size and shape ".repeat(20),
    });
    match status {
        "missed" => body["missed_agent"] = json!([{"id": "0507000000011", "name": "Meera"}]),
        "answered" => {
            body["answered_agent_number"] = json!("+919800000011");
            body["billsec"] = json!("41");
        }
        _ => {}
    }
    (trigger, body)
}

fn config_for(data: &Path) -> impl FnOnce(u16) -> String {
    let storage = format!("path = \"{}\"", data.display());
    // No reminder falls due during the test: what is compared is what the events made.
    move |port| {
        config_with_storage(port, &storage, "")
            .replace("first_after = \"0s\"", "first_after = \"24h\"")
    }
}

async fn send(http: &reqwest::Client, daemon: &Daemon, trigger: &str, body: &Value) -> Value {
    let r = http
        .post(daemon.url(&format!("/webhooks/smartflo/{TOKEN}?trigger={trigger}")))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{body}");
    r.json().await.unwrap()
}

/// Every callback (pending oldest first, then resolved newest first), each with its timeline.
async fn callbacks(daemon: &Daemon) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = daemon
            .api(&format!("/api/v1/callbacks?status=all&limit=200{cursor}"))
            .await;
        assert_eq!(status, 200, "{page}");
        for cb in page["callbacks"].as_array().unwrap() {
            let (_, detail) = daemon
                .api(&format!("/api/v1/callbacks/{}", cb["id"].as_str().unwrap()))
                .await;
            out.push(detail);
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return out,
        }
    }
}

/// Every event in the log, oldest first.
async fn events(daemon: &Daemon) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        let after = out
            .last()
            .map(|e| format!("&after={}", e["id"].as_str().unwrap()))
            .unwrap_or_default();
        let (status, page) = daemon
            .api(&format!("/api/v1/events?limit=500{after}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let got = page["events"].as_array().unwrap().clone();
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}

#[tokio::test]
async fn replay_rebuilds_the_corpus_and_a_bench_sized_run_as_they_were() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut daemon = Daemon::start_with(&tmp.path().join("live"), config_for(&data)).await;
    let http = reqwest::Client::new();

    // A bench-sized run, sent by 16 clients at once (so the order of commits is not the
    // order of sending), then the real corpus one by one.
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (http, next, url) = (http.clone(), next.clone(), daemon.url(""));
        clients.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= BENCH_WEBHOOKS {
                    return;
                }
                let (trigger, body) = bench_webhook(i);
                let r = http
                    .post(format!("{url}/webhooks/smartflo/{TOKEN}?trigger={trigger}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let corpus = std::fs::read_to_string(data_path("corpus/acefone_cdr_corpus.jsonl")).unwrap();
    for line in corpus.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        send(&http, &daemon, "call_hangup", &record).await;
    }

    let live_callbacks = callbacks(&daemon).await;
    let live_events = events(&daemon).await;
    let pending = live_callbacks
        .iter()
        .filter(|c| c["status"] == "pending")
        .count();
    let resolved = live_callbacks.len() - pending;
    assert!(
        pending > 500 && resolved > 100,
        "{pending} pending, {resolved} resolved"
    );
    assert!(daemon.terminate(), "stopped cleanly");

    let rebuilt = tmp.path().join("rebuilt");
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(["replay", "--config"])
        .arg(daemon.dir.join("config.toml"))
        .arg("--into")
        .arg(&rebuilt)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "replay of {} events took {:?}:\n{report}",
        live_events.len(),
        started.elapsed()
    );
    for line in [
        format!("{:>9}  events read from the event log", live_events.len()),
        format!("{pending:>9}  callbacks pending"),
        format!("{resolved:>9}  callbacks resolved"),
    ] {
        assert!(report.contains(&line), "{line:?} in\n{report}");
    }

    let served = Daemon::start_with(&tmp.path().join("served"), config_for(&rebuilt)).await;
    assert_eq!(callbacks(&served).await, live_callbacks);
    assert_eq!(events(&served).await, live_events);
    // The rebuilt store takes the next webhook for a known customer as the live one would.
    let (trigger, body) = bench_webhook(12);
    let mut again = body.clone();
    again["call_id"] = json!("1792999999.1");
    again["uuid"] = json!("rp-after");
    let reply = send(&http, &served, trigger, &again).await;
    assert_eq!(reply["effect"], "updated", "{reply}");
}
