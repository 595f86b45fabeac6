//! Micro-benchmarks of the payload reader and the number normaliser (issue 7):
//!
//!     cargo bench --bench parse
//!
//! Bodies are a fixture and a real corpus record; each is read as JSON and as a form body,
//! then interpreted (trigger, direction, customer, agents), as a webhook is.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringback::domain::agent::{AgentDirectory, DirectoryEntry};
use ringback::domain::phone::{CountryCode, PhoneNumber};
use ringback::smartflo::payload::Fields;
use ringback::smartflo::{Interpreter, Trigger};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/data/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn corpus_record() -> Vec<u8> {
    let all = std::fs::read_to_string(format!(
        "{}/tests/data/corpus/acefone_cdr_corpus.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    all.lines().nth(17).unwrap().as_bytes().to_vec()
}

fn as_form(json: &[u8]) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(json).unwrap();
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in value.as_object().unwrap() {
        match v {
            serde_json::Value::String(s) => form.append_pair(k, s),
            other => form.append_pair(k, &other.to_string()),
        };
    }
    form.finish().into_bytes()
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

fn payload(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap();
    let interpreter = interpreter();
    let mut group = c.benchmark_group("payload");
    for (name, body) in [
        ("fixture", fixture("call_hangup_missed.json")),
        ("corpus", corpus_record()),
    ] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("read_json/{name}"), |b| {
            b.iter(|| Fields::from_json(black_box(&body)).unwrap())
        });
        let form = as_form(&body);
        group.bench_function(format!("read_form/{name}"), |b| {
            b.iter(|| Fields::from_form(black_box(&form)).unwrap())
        });
        let fields = Fields::from_json(&body).unwrap();
        group.bench_function(format!("interpret/{name}"), |b| {
            b.iter(|| {
                interpreter.interpret(black_box(&fields), Some(Trigger::CallHangupMissed), now)
            })
        });
        group.bench_function(format!("read_and_interpret/{name}"), |b| {
            b.iter(|| {
                let fields = Fields::from_json(black_box(&body)).unwrap();
                interpreter.interpret(&fields, None, now)
            })
        });
    }
    group.finish();
}

fn phone(c: &mut Criterion) {
    let india = CountryCode::parse("91").unwrap();
    let mut group = c.benchmark_group("phone");
    // A number not seen before: libphonenumber's parse and validation.
    let mut n = 0u64;
    group.bench_function("normalise_new_number", |b| {
        b.iter(|| {
            n += 1;
            let raw = format!("98{:08}", n % 100_000_000);
            PhoneNumber::parse(black_box(&raw), india).unwrap()
        })
    });
    // The same spellings again: answered from the remembered normalisations.
    for raw in [
        "9876543210",
        "+91 98765 43210",
        "09876543210",
        "919876543210",
    ] {
        group.bench_function(format!("normalise_again/{raw}"), |b| {
            b.iter(|| PhoneNumber::parse(black_box(raw), india).unwrap())
        });
    }
    group.bench_function("reject/_number", |b| {
        b.iter(|| PhoneNumber::parse(black_box("_number"), india).unwrap_err())
    });
    group.finish();
}

criterion_group!(benches, payload, phone);
criterion_main!(benches);
