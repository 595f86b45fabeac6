//! The real corpus: 179 redacted hangup records from a live account of Smartflo's sister
//! platform (tests/data/corpus/README.md). Every record is accepted, and the customers
//! left pending are exactly those whose last missed call came after their last answered one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::helpers::*;

fn records() -> Vec<Value> {
    std::fs::read_to_string(data_path("corpus/acefone_cdr_corpus.jsonl"))
        .expect("corpus")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The record's start, read independently of Ringback's parser (both formats are local time).
fn start(record: &Value) -> NaiveDateTime {
    let s = record["start_stamp"].as_str().unwrap();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%m/%d/%Y, %I:%M:%S %p"))
        .expect("a corpus start_stamp")
}

fn customer(record: &Value) -> String {
    let raw = match record["customer_number_with_prefix"].as_str() {
        Some(s) if !s.is_empty() => s,
        _ => record["caller_id_number"].as_str().unwrap(),
    };
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    format!("+91{}", &digits[digits.len() - 10..])
}

/// The oracle: customers with a missed call after their latest answered call.
fn expected_pending(records: &[Value]) -> BTreeSet<String> {
    let mut last_answered: BTreeMap<String, NaiveDateTime> = BTreeMap::new();
    for r in records.iter().filter(|r| r["call_status"] == "answered") {
        let e = last_answered.entry(customer(r)).or_insert(start(r));
        *e = (*e).max(start(r));
    }
    records
        .iter()
        .filter(|r| r["call_status"] == "missed")
        .filter(|r| {
            last_answered
                .get(&customer(r))
                .is_none_or(|a| start(r) > *a)
        })
        .map(customer)
        .collect()
}

async fn replay(app: &TestApp, records: &[Value]) -> BTreeMap<&'static str, usize> {
    let mut effects = BTreeMap::new();
    for r in records {
        let (status, reply) = app.post_json(Some("call_hangup"), &r.to_string()).await;
        assert_eq!(status, 200, "{r}: {reply}");
        let effect: &'static str = match reply["effect"].as_str().unwrap() {
            "opened" => "opened",
            "updated" => "updated",
            "resolved" => "resolved",
            "recorded" => "recorded",
            "duplicate" => "duplicate",
            other => panic!("unexpected effect {other}"),
        };
        *effects.entry(effect).or_default() += 1;
    }
    effects
}

/// The app with its clock just after the corpus's calls (2026-07-11, 20:33–21:31 IST), as
/// when Smartflo delivered them: start stamps far from the receipt time are not believed.
async fn corpus_app() -> TestApp {
    let app = spawn_app().await;
    app.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 7, 11, 16, 5, 0).unwrap());
    app
}

async fn pending_customers(app: &TestApp) -> BTreeSet<String> {
    app.pending()
        .await
        .iter()
        .map(|c| c["customer_number"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn replaying_the_real_corpus_in_time_order_leaves_exactly_the_unanswered_customers_pending() {
    let app = corpus_app().await;
    let mut records = records();
    assert_eq!(records.len(), 179);
    let expected = expected_pending(&records);
    assert_eq!(expected.len(), 105, "the corpus README's figure");
    records.sort_by_key(start);
    let effects = replay(&app, &records).await;
    // One record is delivered 11 times: 10 duplicates.
    assert_eq!(effects.get("duplicate"), Some(&10), "{effects:?}");
    assert_eq!(pending_customers(&app).await, expected);
    let total_missed: u64 = app
        .pending()
        .await
        .iter()
        .map(|c| c["missed_calls"].as_u64().unwrap())
        .sum();
    assert!(total_missed >= 105);
}

#[tokio::test]
async fn the_corpus_in_file_order_and_reversed_gives_the_same_pending_set() {
    let records = records();
    let expected = expected_pending(&records);
    for order in ["file", "reversed"] {
        let app = corpus_app().await;
        let mut rs = records.clone();
        if order == "reversed" {
            rs.reverse();
        }
        replay(&app, &rs).await;
        assert_eq!(pending_customers(&app).await, expected, "{order} order");
    }
}
