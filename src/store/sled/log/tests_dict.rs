//! Dictionaries trained on a log's own frames: training, compressing with them, reading
//! after reopening and from a copy, and what happens when training cannot work.

use std::path::Path;
use std::time::{Duration, Instant};

use super::*;

/// A webhook-shaped payload that varies like real traffic: numbers, names, times, flows.
fn webhook(i: usize) -> Vec<u8> {
    let agents = [
        "Meera", "Priya", "Arjun", "Kavya", "Rahul", "Sana", "Vikram",
    ];
    let departments = ["Sales", "Support", "Billing", "Renewals"];
    let status = if i.is_multiple_of(3) {
        "answered"
    } else {
        "missed"
    };
    format!(
        r#"{{"uuid":"b{i:011}","call_id":"17{:08}.{i}","caller_id_number":"98{:08}","start_stamp":"2026-05-{:02} {:02}:{:02}:{:02}","call_status":"{status}","answered_agent_name":"{}","dept_name":"{}","billsec":"{}","call_flow":[{{"type":"init","time":"{}"}},{{"type":"IVR","id":"10{}","name":"Main IVR"}},{{"type":"Agent","name":"{}","dialst":"{}"}}],"hangup_cause":"{}","notes":"{}"}}"#,
        i * 7919 % 100_000_000,
        i * 104_729 % 100_000_000,
        1 + i % 28,
        i % 24,
        i % 60,
        (i * 7) % 60,
        agents[i % agents.len()],
        departments[i % departments.len()],
        (i * 13) % 600,
        1_780_000_000 + i,
        i % 9,
        agents[(i / 3) % agents.len()],
        if status == "answered" { "Answered" } else { "Dialed" },
        if status == "answered" { "NORMAL_CLEARING" } else { "NO_ANSWER" },
        "x".repeat(i % 40),
    )
    .into_bytes()
}

fn options(samples: usize) -> LogOptions {
    LogOptions {
        dictionary_samples: samples,
        ..LogOptions::default()
    }
}

/// Appends frames of `payloads` encoded for `log`; returns their positions.
fn append(log: &Log, payloads: &[Vec<u8>]) -> Vec<Position> {
    let frames: Vec<EncodedFrame> = payloads
        .iter()
        .map(|p| EncodedFrame::encode(p, 1, Some(log.dictionaries())))
        .collect();
    log.append(&frames).unwrap()
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn trained(dir: &Path, samples: usize) -> Log {
    let (log, _) = Log::open(dir, options(samples), 0).unwrap();
    let first: Vec<Vec<u8>> = (0..samples).map(webhook).collect();
    append(&log, &first);
    wait_for("a dictionary", || log.dictionaries().count() == 1);
    log
}

#[test]
fn a_log_trains_a_dictionary_on_its_frames_and_later_frames_are_far_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let log = trained(dir.path(), 300);
    let later: Vec<Vec<u8>> = (300..400).map(webhook).collect();
    let lz4: usize = later
        .iter()
        .map(|p| EncodedFrame::encode(p, 1, None).len() as usize)
        .sum();
    let before = log.end();
    let positions = append(&log, &later);
    let with_dictionary = (log.end() - before) as usize;
    assert!(
        with_dictionary * 2 < lz4,
        "{with_dictionary} bytes against {lz4} with lz4"
    );
    for (at, payload) in positions.iter().zip(&later) {
        assert_eq!(&log.read(*at).unwrap(), payload);
    }
    // A scan (what `ringback replay` and the redo at open read) decodes both codecs.
    let scanned: Vec<Vec<u8>> = log.scan(0).map(|s| s.unwrap().payload).collect();
    let sent: Vec<Vec<u8>> = (0..400).map(webhook).collect();
    assert_eq!(scanned, sent);
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".zdict"))
        .collect();
    assert_eq!(files, ["dict-000001.zdict"]);
}

#[test]
fn frames_compressed_with_a_dictionary_read_back_after_reopening_and_from_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let log = trained(dir.path(), 200);
    let later: Vec<Vec<u8>> = (200..260).map(webhook).collect();
    let positions = append(&log, &later);
    let copy = tempfile::tempdir().unwrap();
    log.copy_to(copy.path()).unwrap();
    drop(log);

    for from in [dir.path(), copy.path()] {
        let (log, _) = Log::open(from, options(200), 0).unwrap();
        assert_eq!(log.dictionaries().count(), 1);
        for (at, payload) in positions.iter().zip(&later) {
            assert_eq!(&log.read(*at).unwrap(), payload);
        }
        // The dictionary found at open compresses new frames at once.
        let before = log.end();
        let at = append(&log, &[webhook(999)])[0];
        assert!(log.end() - before < webhook(999).len() as u64 / 2);
        assert_eq!(log.read(at).unwrap(), webhook(999));
        assert_eq!(log.dictionaries().count(), 1, "no second training");
    }
}

#[test]
fn a_frame_naming_a_dictionary_the_log_lacks_reads_as_corrupt() {
    let trained_dir = tempfile::tempdir().unwrap();
    let log = trained(trained_dir.path(), 200);
    let frame = EncodedFrame::encode(&webhook(5_000), 1, Some(log.dictionaries()));

    let other = tempfile::tempdir().unwrap();
    let (bare, _) = Log::open(other.path(), options(200), 0).unwrap();
    let at = bare.append(&[frame]).unwrap()[0];
    match bare.read(at) {
        Err(LogError::Corrupt { reason, .. }) => assert!(reason.contains("dictionary"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn when_training_fails_frames_stay_lz4_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), options(4), 0).unwrap();
    // Four tiny samples: too little for zstd to train on.
    let tiny: Vec<Vec<u8>> = (0..4).map(|i| format!("{i}").into_bytes()).collect();
    append(&log, &tiny);
    wait_for("the training to fail", || log.dictionaries().failed() == 1);
    assert_eq!(log.dictionaries().count(), 0);
    let at = append(&log, &[webhook(1)])[0];
    assert_eq!(log.read(at).unwrap(), webhook(1));
}
