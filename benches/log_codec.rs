//! Which compressor the event log's frames use (issue 14), measured on real webhook bodies:
//!
//!     cargo bench --bench log_codec
//!
//! Every payload is compressed on its own, as a frame is: a stored record (a small JSON
//! envelope like the store's event record) followed by the body as received. Bodies: the
//! tatva corpus (179 hangup CDRs), corpus2 (10 deliveries) and 100 bodies shaped like
//! `bench/smartflo.lua`'s load. Prints one Markdown table for `docs/event-log.md`.
//!
//! The zstd-with-dictionary rows train a 4 KiB dictionary on some payloads and measure
//! others, so the dictionary has not seen what it compresses: every other payload, then
//! the tatva corpus against the bodies of the other two sources.

use std::hint::black_box;
use std::time::Instant;

/// Enough passes over the payloads that a row takes a few hundred milliseconds.
const ROUNDS: usize = 200;
/// Lines in the tatva corpus, which come first among the payloads.
const TATVA_RECORDS: usize = 179;

fn main() {
    let payloads = payloads();
    let raw: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "{} payloads, {} bytes, mean {} bytes\n",
        payloads.len(),
        raw,
        raw / payloads.len()
    );
    println!(
        "| codec | compressed / raw | mean compressed bytes | µs to compress | µs to decompress |"
    );
    println!("|---|---|---|---|---|");

    row("lz4_flex (block)", &payloads, lz4_flex::compress, |c, n| {
        lz4_flex::decompress(c, n).unwrap()
    });
    for level in [1, 3] {
        let mut compressor = zstd::bulk::Compressor::new(level).unwrap();
        let mut decompressor = zstd::bulk::Decompressor::new().unwrap();
        row(
            &format!("zstd level {level}"),
            &payloads,
            |p| compressor.compress(p).unwrap(),
            |c, n| decompressor.decompress(c, n).unwrap(),
        );
    }

    let (even, odd): (Vec<_>, Vec<_>) = payloads.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let even: Vec<Vec<u8>> = even.into_iter().map(|(_, p)| p.clone()).collect();
    let odd: Vec<Vec<u8>> = odd.into_iter().map(|(_, p)| p.clone()).collect();
    with_dictionary("trained on the other half", &even, &odd);
    // The harder case: a dictionary trained on one source, used on bodies of other shapes.
    let (tatva, others) = payloads.split_at(TATVA_RECORDS);
    with_dictionary(
        "trained on tatva only, on corpus2 + smartflo.lua",
        tatva,
        others,
    );
}

/// A 4 KiB zstd dictionary trained on `train`, measured on `test`, with the rows without
/// it on the same payloads beside it.
fn with_dictionary(what: &str, train: &[Vec<u8>], test: &[Vec<u8>]) {
    let dict = zstd::dict::from_samples(train, 4096).unwrap();
    let mut compressor = zstd::bulk::Compressor::with_dictionary(3, &dict).unwrap();
    let mut decompressor = zstd::bulk::Decompressor::with_dictionary(&dict).unwrap();
    row(
        &format!("zstd 3 + {} B dictionary {what}", dict.len()),
        test,
        |p| compressor.compress(p).unwrap(),
        |c, n| decompressor.decompress(c, n).unwrap(),
    );
    let mut compressor = zstd::bulk::Compressor::new(3).unwrap();
    let mut decompressor = zstd::bulk::Decompressor::new().unwrap();
    row(
        "  zstd 3, same payloads, no dictionary",
        test,
        |p| compressor.compress(p).unwrap(),
        |c, n| decompressor.decompress(c, n).unwrap(),
    );
    row(
        "  lz4_flex, same payloads",
        test,
        lz4_flex::compress,
        |c, n| lz4_flex::decompress(c, n).unwrap(),
    );
}

fn row(
    name: &str,
    payloads: &[Vec<u8>],
    mut compress: impl FnMut(&[u8]) -> Vec<u8>,
    mut decompress: impl FnMut(&[u8], usize) -> Vec<u8>,
) {
    let compressed: Vec<Vec<u8>> = payloads.iter().map(|p| compress(p)).collect();
    for (p, c) in payloads.iter().zip(&compressed) {
        assert_eq!(&decompress(c, p.len()), p, "{name} does not round-trip");
    }
    let raw: usize = payloads.iter().map(Vec::len).sum();
    let packed: usize = compressed.iter().map(Vec::len).sum();
    let count = (payloads.len() * ROUNDS) as f64;

    let started = Instant::now();
    for _ in 0..ROUNDS {
        for p in payloads {
            black_box(compress(black_box(p)));
        }
    }
    let compress_us = started.elapsed().as_secs_f64() * 1e6 / count;

    let started = Instant::now();
    for _ in 0..ROUNDS {
        for (p, c) in payloads.iter().zip(&compressed) {
            black_box(decompress(black_box(c), p.len()));
        }
    }
    let decompress_us = started.elapsed().as_secs_f64() * 1e6 / count;

    println!(
        "| {name} | {:.3} | {} | {compress_us:.2} | {decompress_us:.2} |",
        packed as f64 / raw as f64,
        packed / payloads.len(),
    );
}

/// Every body wrapped as the store would keep it: a small JSON record, a newline, the body.
fn payloads() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let mut bodies: Vec<String> = Vec::new();
    let tatva = std::fs::read_to_string(format!("{dir}/corpus/acefone_cdr_corpus.jsonl")).unwrap();
    bodies.extend(tatva.lines().map(str::to_owned));
    assert_eq!(bodies.len(), TATVA_RECORDS);
    let corpus2 = std::fs::read_to_string(format!("{dir}/corpus2/records.jsonl")).unwrap();
    for line in corpus2.lines() {
        let delivery: serde_json::Value = serde_json::from_str(line).unwrap();
        bodies.push(match &delivery["body"] {
            serde_json::Value::String(form) => form.clone(),
            json => json.to_string(),
        });
    }
    bodies.extend((0..100).map(smartflo_lua_body));
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut payload = envelope(i, body.len()).into_bytes();
            payload.push(b'\n');
            payload.extend_from_slice(body.as_bytes());
            payload
        })
        .collect()
}

fn envelope(i: usize, body_len: usize) -> String {
    serde_json::json!({
        "id": format!("01K0{:022}", i * 7919),
        "received_at": format!("2026-07-11T20:{:02}:{:02}.{:03}Z", i / 60 % 60, i % 60, i % 1000),
        "trigger": "call_hangup",
        "trigger_inferred": false,
        "effect": {"kind": "opened", "callback": format!("01K1{:022}", i * 104729)},
        "note": null,
        "call_id": format!("17837845{:02}.2319{:02}", i % 100, i % 97),
        "uuid": format!("9941f340a{:04x}", i),
        "content_type": "application/json",
        "body_len": body_len,
    })
    .to_string()
}

/// One body as `bench/smartflo.lua` sends it (a missed call), numbered `n`.
fn smartflo_lua_body(n: usize) -> String {
    let call = format!("1703{:07}.{n}", n);
    let num = format!("98031{:05}", n * 37 % 100000);
    let t = format!("{:02}:{:02}:{:02}", n / 3600 % 24, n / 60 % 60, n % 60);
    format!(
        r#"{{"uuid":"b031{n:09}","call_id":"{call}","call_to_number":"+918069000000","caller_id_number":"{num}",
"customer_no_with_prefix ":"91{num}","start_stamp":"2026-05-28 {t}","answer_stamp":"","end_stamp":"2026-05-28 {t}",
"billsec":"0","duration":"35","direction":"inbound","call_status":"missed","digits_dialed":"1",
"answered_agent":"","answered_agent_name":"","answered_agent_number":"",
"missed_agent":[{{"id":"0507000000011","name":"Meera","number":"0607000000010","agent_number":"+919800000011"}}],
"call_flow":[{{"type":"init","value":"{call}","time":"1780000000"}},{{"type":"IVR","id":"101","name":"Main IVR","time":1780000001}},{{"type":"Department","id":"11","name":"Sales","time":1780000004}},
{{"type":"Agent","id":"0507000000011","name":"Meera","num":"+919800000011","dialst":"Dialed","time":1780000008}},{{"type":"hangup","time":1780000035}}],
"billing_circle":{{"operator":"Airtel","circle":"Karnataka"}},"hangup_cause":"NO_ANSWER","recording_url":"","call_connected":"0",
"dept_name":"Sales","campaign_name":"$campaign_name","did_number":"+918069000000","ivr_name":"Main IVR",
"agent_ring_time":"25","queue_wait_time":"8","circle":"Karnataka","notes":"bench traffic, realistic size and shape",
"custom_field_1":"$custom_field_1","custom_field_2":"","lead_source":"website","priority":"normal"}}"#
    )
}
