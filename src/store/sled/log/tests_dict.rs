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
    wait_for("a dictionary in use", || {
        log.dictionaries().count() == 1 && log.dictionaries().in_use()
    });
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
    assert_eq!(dictionary_files(dir.path()), ["dict-000001.zdict"]);
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

/// The dictionary files in `dir`, by name.
fn dictionary_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("dict-"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_damaged_dictionary_makes_its_frames_corrupt_one_by_one_and_nothing_else() {
    for damage in ["truncated", "flipped"] {
        let dir = tempfile::tempdir().unwrap();
        let log = trained(dir.path(), 200);
        let with_dictionary = append(&log, &[webhook(300), webhook(301)]);
        let plain: Vec<EncodedFrame> = [webhook(302), webhook(303)]
            .iter()
            .map(|p| EncodedFrame::encode(p, 1, None))
            .collect();
        let after = log.append(&plain).unwrap();
        drop(log);

        let file = dir.path().join("dict-000001.zdict");
        let mut bytes = std::fs::read(&file).unwrap();
        if damage == "truncated" {
            bytes.truncate(64);
        } else {
            // The content section (past the header and entropy tables), which the frames'
            // matches point into; zstd still loads the dictionary, the payloads' CRC fails.
            let at = bytes.len() * 3 / 10;
            for b in &mut bytes[at..] {
                *b ^= 0x5a;
            }
        }
        std::fs::write(&file, &bytes).unwrap();

        let (log, _) = Log::open(dir.path(), options(200), 0).unwrap();
        for at in &with_dictionary {
            assert!(
                matches!(log.read(*at), Err(LogError::Corrupt { .. })),
                "{damage}: {:?}",
                log.read(*at)
            );
        }
        assert_eq!(log.read(after[0]).unwrap(), webhook(302));
        // A scan reports each such frame and goes on with the next one.
        let scanned: Vec<_> = log.scan(with_dictionary[0]).collect();
        assert_eq!(scanned.len(), 4, "{damage}");
        assert!(scanned[..2].iter().all(Result::is_err), "{damage}");
        let rest: Vec<Vec<u8>> = scanned[2..]
            .iter()
            .map(|s| s.as_ref().unwrap().payload.clone())
            .collect();
        assert_eq!(rest, [webhook(302), webhook(303)], "{damage}");
    }
}

#[test]
fn a_new_dictionary_never_replaces_a_file_and_a_leftover_temporary_goes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dict-000001.zdict"), b"not a dictionary").unwrap();
    std::fs::write(dir.path().join("dict-000002-77.tmp"), b"half written").unwrap();
    let log = trained(dir.path(), 200);
    assert_eq!(
        dictionary_files(dir.path()),
        ["dict-000001.zdict", "dict-000002.zdict"]
    );
    assert_eq!(
        std::fs::read(dir.path().join("dict-000001.zdict")).unwrap(),
        b"not a dictionary"
    );
    let at = append(&log, &[webhook(500)])[0];
    assert_eq!(log.read(at).unwrap(), webhook(500));
}

#[test]
fn a_dictionary_keeps_no_customer_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), options(200), 0).unwrap();
    // Every payload names the same customer: a dictionary of raw samples would keep it.
    let payloads: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            let mut p = webhook(i);
            p.extend_from_slice(br#"{"customer_no_with_prefix":"919812345678"}"#);
            p
        })
        .collect();
    append(&log, &payloads);
    wait_for("a dictionary in use", || {
        log.dictionaries().count() == 1 && log.dictionaries().in_use()
    });
    let dictionary = std::fs::read(dir.path().join("dict-000001.zdict")).unwrap();
    let has = |needle: &[u8]| dictionary.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"customer_no_with_prefix"), "shapes are kept");
    assert!(!has(b"9812345678") && !has(b"12345"), "numbers are not");
}

#[test]
fn numbers_are_taken_out_of_samples_and_short_digit_runs_kept() {
    let sample =
        br#"{"n":"+91 98123-45678","at":"2026-05-28 10:04","id":"101","c":"1780000000.5"}"#;
    let out = super::dict::without_numbers(sample);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"n":"+91 00000-00000","at":"2026-05-28 10:04","id":"101","c":"0000000000.5"}"#
    );
}
