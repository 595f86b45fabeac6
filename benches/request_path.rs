//! CPU per webhook of the request path without the store (issue 14): from the request to
//! an `IncomingEvent`, then the `info` log line and the JSON reply, single-threaded, on the
//! body mix of `bench/smartflo.lua` (60 % a new customer's missed call, 15 % a recent
//! customer's, 15 % an answered call, 10 % call received on server):
//!
//!     cargo bench --bench request_path            # 15 rounds of 4 000 webhooks
//!     cargo bench --bench request_path -- 30      # 30 rounds
//!
//! The log goes through the production formatter to a sink. Each round uses customer
//! numbers not seen before, as a long wrk run does; bodies are made outside the timing, and
//! the time is the thread's CPU time.

use std::time::Duration;

use actix_web::test::TestRequest;
use chrono::{DateTime, TimeZone, Utc};
use ringback::app::Receipt;
use ringback::domain::agent::{AgentDirectory, DirectoryEntry};
use ringback::domain::callback::CallbackId;
use ringback::domain::lifecycle::Effect;
use ringback::domain::phone::{CountryCode, PhoneNumber};
use ringback::smartflo::Interpreter;
use ringback::smartflo::webhook::read_webhook;
use ringback::web::webhook::{Accepted, raw_event, reply};

/// The allocator the service runs with (src/main.rs): allocation is much of this path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PER_ROUND: usize = 4_000;

/// The wrk script's body, field for field.
#[allow(clippy::too_many_arguments)]
fn body(
    uuid: &str,
    call: &str,
    num: &str,
    t: &str,
    answer: &str,
    billsec: u32,
    status: &str,
    agent: (&str, &str, &str),
    missed: &str,
    dialst: &str,
    cause: &str,
    recording: &str,
    connected: &str,
) -> String {
    let (agent_id, agent_name, agent_number) = agent;
    format!(
        r#"{{"uuid":"{uuid}","call_id":"{call}","call_to_number":"+918069000000","caller_id_number":"{num}",
"customer_no_with_prefix ":"91{num}","start_stamp":"2026-05-28 {t}","answer_stamp":"{answer}","end_stamp":"2026-05-28 {t}",
"billsec":"{billsec}","duration":"35","direction":"inbound","call_status":"{status}","digits_dialed":"1",
"answered_agent":"{agent_id}","answered_agent_name":"{agent_name}","answered_agent_number":"{agent_number}",
"missed_agent":{missed},
"call_flow":[{{"type":"init","value":"{call}","time":"1780000000"}},{{"type":"IVR","id":"101","name":"Main IVR","time":1780000001}},{{"type":"Department","id":"11","name":"Sales","time":1780000004}},
{{"type":"Agent","id":"0507000000011","name":"Meera","num":"+919800000011","dialst":"{dialst}","time":1780000008}},{{"type":"hangup","time":1780000035}}],
"billing_circle":{{"operator":"Airtel","circle":"Karnataka"}},"hangup_cause":"{cause}","recording_url":"{recording}","call_connected":"{connected}",
"dept_name":"Sales","campaign_name":"$campaign_name","did_number":"+918069000000","ivr_name":"Main IVR",
"agent_ring_time":"25","queue_wait_time":"8","circle":"Karnataka","notes":"bench traffic, realistic size and shape",
"custom_field_1":"$custom_field_1","custom_field_2":"","lead_source":"website","priority":"normal"}}"#
    )
}

const MISSED_AGENT: &str = r#"[{"id":"0507000000011","name":"Meera","number":"0607000000010","agent_number":"+919800000011"}]"#;

/// One round of the wrk script's traffic: (trigger, body). `run` keeps numbers new.
fn round(run: usize, rng: &mut u64) -> Vec<(&'static str, String)> {
    let mut next = |n: u64| {
        // xorshift: the mix only needs to be the script's proportions, not good randomness.
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng % n
    };
    let customer = |k: usize| format!("98{:02}0{:05}", run % 100, k % 100_000);
    let mut opened = 0usize;
    (1..=PER_ROUND)
        .map(|n| {
            let call = format!("17{:02}0{n:07}.{n}", run % 100);
            let uuid = format!("b{:02}0{n:09}", run % 100);
            let s = n % 86_400;
            let t = format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
            let recent = |opened: usize, r: u64| {
                let low = opened.saturating_sub(200).max(1);
                low + (r as usize) % (opened - low + 1)
            };
            let missed = |k: usize| {
                let num = customer(k);
                body(
                    &uuid,
                    &call,
                    &num,
                    &t,
                    "",
                    0,
                    "missed",
                    ("", "", ""),
                    MISSED_AGENT,
                    &call,
                    "NO_ANSWER",
                    "",
                    "0",
                )
            };
            let r = next(100) + 1;
            if r <= 60 || opened < 10 {
                opened += 1;
                ("call_hangup_missed", missed(opened))
            } else if r <= 75 {
                ("call_hangup_missed", missed(recent(opened, next(1 << 20))))
            } else if r <= 90 {
                let num = customer(recent(opened, next(1 << 20)));
                let recording = format!("https://recordings.example/{call}.mp3");
                let meera = ("0507000000011", "Meera", "+919800000011");
                let answered = body(
                    &uuid,
                    &call,
                    &num,
                    &t,
                    &t,
                    42,
                    "answered",
                    meera,
                    "[]",
                    &call,
                    "NORMAL_CLEARING",
                    &recording,
                    "1",
                );
                ("call_hangup_answered", answered)
            } else {
                ("call_received_on_server", missed(opened + 1))
            }
        })
        .collect()
}

fn interpreter() -> Interpreter {
    let country = CountryCode::parse("91").unwrap();
    Interpreter {
        zone: chrono_tz::Asia::Kolkata,
        country,
        agents: AgentDirectory::new(
            vec![DirectoryEntry {
                name: "Meera".into(),
                number: PhoneNumber::parse("9800000011", country).ok(),
                smartflo_id: Some("0507000000011".into()),
            }],
            country,
        ),
    }
}

/// One webhook from its request to its reply's bytes, the store's answer made up.
fn one(interpreter: &Interpreter, req: &actix_web::HttpRequest, body: &str, at: DateTime<Utc>) {
    let event = read_webhook(interpreter, raw_event(req), body.as_bytes().to_vec(), at)
        .expect("the bench's bodies are readable");
    let accepted = Accepted::from(&event);
    let id = ulid::Ulid::from_datetime(at.into());
    let receipt = Receipt {
        event_id: id,
        effect: Effect::Opened,
        callback_id: Some(CallbackId::new(id)),
        note: event.note.clone(),
        unreadable: false,
    };
    drop(event);
    std::hint::black_box(reply(&accepted, &receipt));
}

/// This thread's CPU time so far (the kernel's scheduler statistics, in nanoseconds): the
/// machine is shared, and wall time would count the others' turns too.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux");
    let ns = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    Duration::from_nanos(ns.expect("schedstat starts with the CPU time in ns"))
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(15);
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_target(false)
        .with_ansi(false)
        .fmt_fields(ringback::logging::EscapedFields)
        .with_writer(std::io::sink)
        .init();
    let interpreter = interpreter();
    let at = Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut per_webhook = Vec::new();
    // Two rounds to warm up (allocator, the agent's remembered number).
    for run in 0..rounds + 2 {
        let traffic = round(run + 1, &mut rng);
        let requests: Vec<_> = traffic
            .iter()
            .map(|(trigger, _)| {
                TestRequest::post()
                    .uri(&format!("/webhooks/smartflo/token?trigger={trigger}"))
                    .insert_header(("content-type", "application/json"))
                    .insert_header(("user-agent", "Go-http-client/1.1"))
                    .insert_header(("content-length", "1500"))
                    .peer_addr("10.0.0.7:40000".parse().unwrap())
                    .to_http_request()
            })
            .collect();
        let start = cpu_time();
        for (req, (_, body)) in requests.iter().zip(&traffic) {
            one(&interpreter, req, body, at);
        }
        let us = (cpu_time() - start).as_secs_f64() * 1e6 / PER_ROUND as f64;
        if run >= 2 {
            per_webhook.push(us);
        }
    }
    per_webhook.sort_by(f64::total_cmp);
    let median = per_webhook[per_webhook.len() / 2];
    println!(
        "request path without the store: median {median:.1} µs per webhook (min {:.1}, max {:.1}; {rounds} rounds of {PER_ROUND})",
        per_webhook[0],
        per_webhook[per_webhook.len() - 1],
    );
}
