//! Reading deliveries without HTTP: the fixtures and corpus2 as Smartflo's dispatcher sends
//! them (JSON, form, GET), and the ugly inputs a misconfigured webhook produces.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::*;
use crate::domain::agent::AgentDirectory;
use crate::domain::lifecycle::Intent;
use crate::domain::phone::CountryCode;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 28, 6, 0, 0).unwrap()
}

fn interpreter() -> Interpreter {
    let country = CountryCode::parse("91").unwrap();
    Interpreter {
        zone: chrono_tz::Asia::Kolkata,
        country,
        agents: AgentDirectory::new(Vec::new(), country),
    }
}

fn data(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Line `n` (from 1) of corpus2: its trigger, method, content type and body as sent.
fn corpus2(n: usize) -> (Option<String>, String, String, Vec<u8>) {
    let text = String::from_utf8(data("corpus2/records.jsonl")).unwrap();
    let record: Value = serde_json::from_str(text.lines().nth(n - 1).unwrap()).unwrap();
    let body = match &record["body"] {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    (
        record["trigger"].as_str().map(str::to_string),
        record["method"].as_str().unwrap().to_string(),
        record["content_type"].as_str().unwrap().to_string(),
        body,
    )
}

fn raw(method: &str, content_type: Option<&str>, query: &str) -> RawEvent {
    RawEvent {
        method: method.into(),
        content_type: content_type.map(str::to_string),
        query: query.into(),
        headers: vec![("user-agent".into(), "Go-http-client/1.1".into())],
    }
}

fn post_json(query: &str, body: &[u8]) -> Result<IncomingEvent, Rejected> {
    let raw = raw("POST", Some("application/json"), query);
    read_webhook(&interpreter(), raw, body.to_vec(), now())
}

/// The fields of a JSON object, form-encoded the way the dispatcher renders a form webhook.
fn as_form(json: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(json).unwrap();
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in value.as_object().unwrap() {
        match v {
            Value::String(s) => form.append_pair(k, s),
            other => form.append_pair(k, &other.to_string()),
        };
    }
    form.finish().into_bytes()
}

#[test]
fn a_missed_call_fixture_reads_into_an_event_keyed_on_its_uuid() {
    let body = data("fixtures/call_hangup_missed.json");
    let event = post_json("trigger=call_hangup_missed", &body).unwrap();
    assert_eq!(event.event_id, None, "the event log gives the id");
    assert_eq!(event.trigger, "call_hangup_missed");
    assert!(!event.trigger_inferred);
    assert_eq!(event.intent, Intent::Missed);
    assert_eq!(
        event.facts.customer.as_ref().unwrap().as_str(),
        "+919876500001"
    );
    assert_eq!(
        event.dedup,
        DedupKey {
            trigger: "call_hangup_missed".into(),
            call_id: "1780000000.100001".into(),
            leg: "6a1f0c2b9d3e1".into(),
        }
    );
    assert_eq!(event.uuid.as_deref(), Some("6a1f0c2b9d3e1"));
    assert_eq!(event.received_at, now());
    assert_eq!(event.body, body, "the body is kept as received");
    assert_eq!(event.raw.query, "trigger=call_hangup_missed");
}

#[test]
fn every_fixture_reads_under_the_trigger_it_is_named_for() {
    let dir = format!("{}/tests/data/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut read = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let slug = path.file_stem().unwrap().to_str().unwrap().to_string();
        let body = std::fs::read(&path).unwrap();
        let event =
            post_json(&format!("trigger={slug}"), &body).unwrap_or_else(|e| panic!("{slug}: {e}"));
        assert_eq!(event.trigger, slug);
        assert!(!event.trigger_inferred, "{slug}");
        read += 1;
    }
    assert!(read >= 17, "only {read} fixtures found");
}

#[test]
fn a_form_body_reads_like_the_same_fields_in_json() {
    let json = data("fixtures/call_hangup_missed.json");
    let form = raw(
        "POST",
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        "trigger=call_hangup_missed",
    );
    let from_form = read_webhook(&interpreter(), form, as_form(&json), now()).unwrap();
    let from_json = post_json("trigger=call_hangup_missed", &json).unwrap();
    assert_eq!(
        format!("{:?}", from_form.facts),
        format!("{:?}", from_json.facts)
    );
    assert_eq!(from_form.intent, from_json.intent);
    assert_eq!(from_form.dedup, from_json.dedup);
}

#[test]
fn the_dispatchers_get_rendering_reads_like_its_post() {
    let (trigger, method, content_type, body) = corpus2(1);
    let post = raw(
        &method,
        Some(&content_type),
        &format!("trigger={}", trigger.unwrap()),
    );
    let post = read_webhook(&interpreter(), post, body, now()).unwrap();

    // The GET keeps its JSON content type and has no body: the variables are the query.
    let (trigger, method, content_type, query) = corpus2(2);
    assert_eq!(method, "GET");
    let query = format!(
        "{}&trigger={}",
        String::from_utf8(query).unwrap(),
        trigger.unwrap()
    );
    let get = raw(&method, Some(&content_type), &query);
    let get = read_webhook(&interpreter(), get, Vec::new(), now()).unwrap();

    assert_eq!(format!("{:?}", get.facts), format!("{:?}", post.facts));
    assert_eq!(get.intent, post.intent);
    assert_eq!(
        get.dedup, post.dedup,
        "a redelivery by the other method is a duplicate"
    );
    assert!(get.body.is_empty());
}

#[test]
fn every_corpus2_delivery_reads_and_one_without_a_trigger_has_it_inferred() {
    for n in 1..=10 {
        let (trigger, method, content_type, body) = corpus2(n);
        let query = trigger.map(|t| format!("trigger={t}")).unwrap_or_default();
        let (query, body) = if method == "GET" {
            let vars = String::from_utf8(body).unwrap();
            (format!("{vars}&{query}"), Vec::new())
        } else {
            (query, body)
        };
        let raw = raw(&method, Some(&content_type), &query);
        let event = read_webhook(&interpreter(), raw, body, now())
            .unwrap_or_else(|e| panic!("line {n}: {e}"));
        if !query.contains("trigger=") {
            assert!(
                event.trigger_inferred || event.trigger == "unknown",
                "line {n}"
            );
        }
    }
}

#[test]
fn reading_the_same_delivery_again_gives_the_same_event() {
    let (_, _, _, body) = corpus2(6);
    let read = || {
        post_json("trigger=c2c_answered_by_customer", &body)
            .map(|e| format!("{e:?}"))
            .unwrap()
    };
    assert_eq!(read(), read());
}

#[test]
fn without_a_uuid_the_leg_is_a_digest_of_the_body_or_of_the_query() {
    let a = post_json(
        "trigger=call_hangup",
        br#"{"call_id":"1.1","call_status":"missed"}"#,
    );
    let again = post_json(
        "trigger=call_hangup",
        br#"{"call_id":"1.1","call_status":"missed"}"#,
    );
    let other = post_json(
        "trigger=call_hangup",
        br#"{"call_id":"1.1","call_status":"answered"}"#,
    );
    let (a, again, other) = (a.unwrap(), again.unwrap(), other.unwrap());
    assert!(
        a.dedup.leg.starts_with('#') && a.dedup.leg.len() == 33,
        "{}",
        a.dedup.leg
    );
    assert_eq!(a.dedup, again.dedup);
    assert_ne!(a.dedup.leg, other.dedup.leg);

    let get = |query: &str| {
        read_webhook(&interpreter(), raw("GET", None, query), Vec::new(), now()).unwrap()
    };
    let q = "trigger=call_hangup&call_id=1.1&call_status=missed";
    assert_eq!(get(q).dedup.leg, body_digest(q.as_bytes()));
}

#[test]
fn variables_in_the_url_of_an_empty_post_are_read() {
    let raw = raw(
        "POST",
        None,
        "trigger=call_hangup_missed&call_id=9.9&caller_id_number=9876500001",
    );
    let event = read_webhook(&interpreter(), raw, Vec::new(), now()).unwrap();
    assert_eq!(event.facts.call_id.as_deref(), Some("9.9"));
}

#[test]
fn an_unknown_trigger_is_refused_before_anything_else() {
    let raw = raw("POST", Some("text/plain"), "trigger=call_hung_up");
    let err = read_webhook(&interpreter(), raw, b"x".to_vec(), now()).unwrap_err();
    assert!(matches!(err, Rejected::UnknownTrigger(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("unknown trigger \"call_hung_up\""),
        "{err}"
    );
    assert!(!err.is_media_type());
}

#[test]
fn an_empty_trigger_parameter_means_infer_it() {
    let body = data("fixtures/call_hangup_missed.json");
    for query in ["trigger=", "trigger=%20%20", ""] {
        let event = post_json(query, &body).unwrap();
        assert!(event.trigger_inferred, "{query:?}");
    }
}

#[test]
fn content_types_are_read_by_their_essence() {
    let body = data("fixtures/call_hangup_missed.json");
    for ct in [
        "application/json; charset=utf-8",
        " APPLICATION/JSON ",
        "application/vnd.smartflo+json",
    ] {
        let raw = raw("POST", Some(ct), "trigger=call_hangup_missed");
        assert!(
            read_webhook(&interpreter(), raw, body.clone(), now()).is_ok(),
            "{ct}"
        );
    }
    let raw = raw("POST", Some("Text/Plain; charset=utf-8"), "");
    let err = read_webhook(&interpreter(), raw, body, now()).unwrap_err();
    assert_eq!(err, Rejected::UnsupportedContentType("text/plain".into()));
    assert!(err.is_media_type());
}

#[test]
fn a_post_with_a_body_and_no_content_type_is_refused_as_a_media_type() {
    let raw = raw("POST", None, "trigger=call_hangup_missed");
    let err =
        read_webhook(&interpreter(), raw, b"{\"call_id\":\"1\"}".to_vec(), now()).unwrap_err();
    assert_eq!(err, Rejected::MissingContentType);
    assert!(err.is_media_type());
    assert_eq!(err.setup_problem(), None);
}

#[test]
fn an_empty_post_is_a_setup_problem_that_says_how_to_fix_it() {
    let json = raw(
        "POST",
        Some("application/json"),
        "trigger=call_hangup_missed",
    );
    let err = read_webhook(&interpreter(), json, Vec::new(), now()).unwrap_err();
    assert_eq!(err.setup_problem(), Some("empty_body"));
    assert!(matches!(
        err,
        Rejected::EmptyPost {
            declared: BodyKind::Json,
            ..
        }
    ));
    assert!(err.to_string().contains("\"application/json\""), "{err}");
    assert!(
        err.to_string().contains("lower-case `content-type`"),
        "{err}"
    );

    let bare = raw("POST", None, "");
    let err = read_webhook(&interpreter(), bare, Vec::new(), now()).unwrap_err();
    assert!(matches!(
        err,
        Rejected::EmptyPost {
            declared: BodyKind::Query,
            ..
        }
    ));
    assert!(err.to_string().contains("no variables in the URL"), "{err}");
}

#[test]
fn unreadable_bodies_say_what_is_wrong_with_them() {
    let cases: [(&str, &[u8], PayloadError); 4] = [
        (
            "application/json",
            b"[1,2]",
            PayloadError::NotAnObject("an array"),
        ),
        ("application/json", b"{}", PayloadError::Empty),
        (
            "application/x-www-form-urlencoded",
            &[0xff, 0xfe, b'='],
            PayloadError::NotUtf8,
        ),
        (
            "application/x-www-form-urlencoded",
            b"&&=&",
            PayloadError::Empty,
        ),
    ];
    for (ct, body, expected) in cases {
        let raw = raw("POST", Some(ct), "");
        let err = read_webhook(&interpreter(), raw, body.to_vec(), now()).unwrap_err();
        assert_eq!(err, Rejected::Unreadable(expected), "{body:?}");
    }
    let err = post_json("", b"{\"call_id\":\"1.1\"").unwrap_err();
    assert!(
        err.to_string().starts_with("body is not valid JSON"),
        "{err}"
    );
    // A GET whose only variable is the trigger has nothing to read.
    let get = raw("GET", Some("application/json"), "trigger=call_hangup");
    let err = read_webhook(&interpreter(), get, Vec::new(), now()).unwrap_err();
    assert_eq!(err, Rejected::Unreadable(PayloadError::Empty));
}

#[test]
fn a_nul_character_anywhere_in_a_payload_is_refused_naming_its_field() {
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "application/json",
            br#"{"call_id":"1.1\u0000","uuid":"u"}"#,
            "call_id",
        ),
        (
            "application/json",
            br#"{"call_id":"1.1","missed_agent":"{\"name\":\"A\\u0000\"}"}"#,
            "missed_agent",
        ),
        (
            "application/json",
            br#"{"call_id":"1.1","x":[{"\u0000":1}]}"#,
            "x",
        ),
        (
            "application/x-www-form-urlencoded",
            b"call_id=1.1&caller_id_number=%00",
            "caller_id_number",
        ),
        (
            "application/x-www-form-urlencoded",
            b"call_id=1.1&ab%00c=1",
            "abc",
        ),
    ];
    for (ct, body, field) in cases {
        let raw = raw("POST", Some(ct), "");
        let err = read_webhook(&interpreter(), raw, body.to_vec(), now()).unwrap_err();
        assert_eq!(
            err,
            Rejected::Unreadable(PayloadError::NulCharacter(field.into())),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert!(err.to_string().contains("NUL character"), "{err}");
    }
    // The same characters spelled out are text like any other.
    let fine = post_json("", br#"{"call_id":"1.1","note":"u0000 \\ 0"}"#);
    assert!(fine.is_ok(), "{fine:?}");
}

#[test]
fn ids_longer_than_a_key_may_be_are_refused_and_the_longest_allowed_is_read() {
    let long = "9".repeat(MAX_ID_LEN + 1);
    let err = post_json("", format!("{{\"call_id\":\"{long}\"}}").as_bytes()).unwrap_err();
    assert_eq!(err, Rejected::IdTooLong { field: "call_id" });
    assert_eq!(err.to_string(), "call_id is longer than 256 characters");
    let err = post_json(
        "",
        format!("{{\"call_id\":\"1\",\"uuid\":\"{long}\"}}").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(err, Rejected::IdTooLong { field: "uuid" });
    let longest = "9".repeat(MAX_ID_LEN);
    let event = post_json("", format!("{{\"call_id\":\"{longest}\"}}").as_bytes()).unwrap();
    assert_eq!(event.dedup.call_id, longest);
}

#[test]
fn a_second_trigger_parameter_is_only_a_variable() {
    let body = data("fixtures/call_hangup_missed.json");
    let event = post_json("trigger=call_hangup_missed&trigger=nonsense", &body).unwrap();
    assert_eq!(event.trigger, "call_hangup_missed");
}
