//! The log against its promises: positions, segments, reopening, torn tails, gaps,
//! retention, concurrency and copies. Damaged files are in `tests_damage`.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::segment::{list, name};
use super::*;

/// A payload shaped like a stored webhook, different for each `i` and `i` bytes longer.
pub(super) fn payload(i: usize) -> Vec<u8> {
    format!(
        r#"{{"i":{i},"call_id":"1783784576.{i:06}","call_flow":[{{"type":"init"}},{{"type":"IVR"}}],"pad":"{}"}}"#,
        "x".repeat(i)
    )
    .into_bytes()
}

pub(super) fn frames(range: std::ops::Range<usize>) -> Vec<EncodedFrame> {
    range
        .map(|i| EncodedFrame::encode(&payload(i), 1_000 + i as i64, None))
        .collect()
}

pub(super) fn open(dir: &Path, segment_bytes: u64, at_least: Position) -> (Log, Opened) {
    Log::open(
        dir,
        LogOptions {
            segment_bytes,
            ..LogOptions::default()
        },
        at_least,
    )
    .unwrap()
}

pub(super) fn segment_files(dir: &Path) -> Vec<PathBuf> {
    list(dir).unwrap().into_iter().map(|(_, p)| p).collect()
}

pub(super) fn all(log: &Log) -> Vec<(Position, i64, Vec<u8>)> {
    log.scan(0)
        .map(|s| {
            let s = s.unwrap();
            (s.at, s.time_ms, s.payload)
        })
        .collect()
}

#[test]
fn appended_frames_read_back_by_position_and_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (log, opened) = open(dir.path(), 300, 0);
    assert_eq!(
        opened,
        Opened {
            end: 0,
            cut_bytes: 0,
            segments: 1
        }
    );
    let mut positions = log.append(&frames(0..10)).unwrap();
    positions.extend(log.append(&frames(10..20)).unwrap());
    assert!(segment_files(dir.path()).len() > 3, "tiny segments roll");
    assert!(positions.windows(2).all(|w| w[0] < w[1]));
    for (i, &at) in positions.iter().enumerate() {
        assert_eq!(log.read(at).unwrap(), payload(i));
        assert_eq!(log.time_at(at).unwrap(), 1_000 + i as i64);
    }
    let scanned = all(&log);
    assert_eq!(scanned.len(), 20);
    for (i, (at, time, body)) in scanned.into_iter().enumerate() {
        assert_eq!(
            (at, time, body),
            (positions[i], 1_000 + i as i64, payload(i))
        );
    }
    assert_eq!(log.scan(positions[15]).count(), 5);
    assert_eq!(log.disk_bytes(), log.end());
}

#[test]
fn segment_files_are_named_by_the_position_of_their_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 300, 0);
    let positions = log.append(&frames(0..10)).unwrap();
    for path in segment_files(dir.path()) {
        let base: Position = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert!(positions.contains(&base) || base == log.end());
    }
    assert_eq!(name(67108864), "00000000000067108864.log");
}

#[test]
fn reopening_finds_every_frame_and_appends_continue_after_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 400, 0);
    let first = log.append(&frames(0..12)).unwrap();
    log.sync().unwrap();
    let end = log.end();
    let segments = segment_files(dir.path()).len();
    drop(log);

    let (log, opened) = open(dir.path(), 400, 0);
    assert_eq!(
        opened,
        Opened {
            end,
            cut_bytes: 0,
            segments
        }
    );
    assert_eq!(log.end(), end);
    let next = log.append(&frames(12..14)).unwrap();
    assert_eq!(next[0], end);
    let scanned = all(&log);
    assert_eq!(scanned.len(), 14);
    assert_eq!(scanned[3].0, first[3]);
    assert_eq!(scanned[13].2, payload(13));
}

#[test]
fn at_least_beyond_the_end_starts_a_new_segment_there_and_the_gap_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 1 << 20, 0);
    let before = log.append(&frames(0..3)).unwrap();
    let old_end = log.end();
    drop(log);

    let (log, opened) = open(dir.path(), 1 << 20, 5_000);
    assert_eq!((opened.end, opened.segments), (5_000, 2));
    let after = log.append(&frames(3..5)).unwrap();
    assert_eq!(after[0], 5_000);
    assert!(dir.path().join(name(5_000)).exists());
    for at in [old_end, old_end + 1, 4_999] {
        assert!(
            matches!(log.read(at), Err(LogError::Missing { .. })),
            "{at}"
        );
    }
    assert_eq!(log.read(before[2]).unwrap(), payload(2));
    let positions: Vec<Position> = all(&log).into_iter().map(|f| f.0).collect();
    assert_eq!(positions, [before, after].concat());
    assert!(matches!(log.read(log.end()), Err(LogError::Missing { .. })));

    // Below the end, at_least changes nothing.
    let end = log.end();
    drop(log);
    let (_, opened) = open(dir.path(), 1 << 20, 10);
    assert_eq!((opened.end, opened.segments), (end, 2));
}

#[test]
fn a_new_log_starts_at_at_least() {
    let dir = tempfile::tempdir().unwrap();
    let (log, opened) = open(&dir.path().join("events"), 1 << 20, 777);
    assert_eq!((opened.end, log.start()), (777, 777));
    assert_eq!(log.append(&frames(0..1)).unwrap(), [777]);
}

#[test]
fn dropping_old_segments_keeps_the_active_one_and_newer_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 300, 0);
    // Times 1000..1020, several frames per segment.
    let positions = log.append(&frames(0..20)).unwrap();
    let segments_before = segment_files(dir.path()).len();
    let bytes_before = log.disk_bytes();

    assert_eq!(log.drop_older_than(0).unwrap(), (0, 0));
    let (dropped, bytes) = log.drop_older_than(1_010).unwrap();
    assert!(dropped > 0);
    assert_eq!(log.disk_bytes(), bytes_before - bytes);
    assert_eq!(segment_files(dir.path()).len(), segments_before - dropped);
    let kept = all(&log);
    assert_eq!(log.start(), kept[0].0);
    // Whole segments only: every frame at or after the cutoff is still there.
    assert!(kept.iter().any(|(_, time, _)| *time < 1_010));
    assert!(kept.iter().filter(|(_, t, _)| *t >= 1_010).count() == 10);
    for (i, &at) in positions.iter().enumerate() {
        let read = log.read(at);
        if at < log.start() {
            assert!(matches!(read, Err(LogError::Missing { .. })), "{i}");
        } else {
            assert_eq!(read.unwrap(), payload(i));
        }
    }

    // Everything is older than this, yet the active segment stays.
    log.drop_older_than(i64::MAX).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(log.read(positions[19]).unwrap(), payload(19));
    drop(log);
    let (log, opened) = open(dir.path(), 300, 0);
    assert_eq!(opened.segments, 1);
    assert_eq!(log.read(positions[19]).unwrap(), payload(19));
}

#[test]
fn sync_runs_concurrently_with_appends_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 2_000, 0);
    let log = Arc::new(log);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flusher = {
        let (log, done) = (Arc::clone(&log), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut syncs = 0;
            while !done.load(Ordering::Acquire) {
                log.sync().unwrap();
                syncs += 1;
            }
            syncs
        })
    };
    let mut positions = Vec::new();
    for i in 0..200 {
        positions.extend(log.append(&frames(i..i + 1)).unwrap());
    }
    done.store(true, Ordering::Release);
    assert!(flusher.join().unwrap() > 0);
    log.sync().unwrap();
    for (i, at) in positions.into_iter().enumerate() {
        assert_eq!(log.read(at).unwrap(), payload(i));
    }
}

#[test]
fn a_copy_opens_and_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(&dir.path().join("live"), 300, 0);
    let positions = log.append(&frames(0..15)).unwrap();
    let copied = log.copy_to(&dir.path().join("backup")).unwrap();
    assert_eq!(copied, log.disk_bytes());
    // Appends after the copy are not in it.
    log.append(&frames(15..16)).unwrap();

    let (copy, opened) = open(&dir.path().join("backup"), 300, 0);
    assert_eq!(opened.cut_bytes, 0);
    assert_eq!(copy.end(), positions[14] + frames(14..15)[0].len());
    assert_eq!(all(&copy), all(&log)[..15]);
    // The copy is a log of its own: writing to it leaves the original alone.
    copy.append(&frames(20..21)).unwrap();
    assert_eq!(
        log.read(positions[14] + frames(14..15)[0].len()).unwrap(),
        payload(15)
    );
}

#[test]
fn a_frame_bigger_than_a_segment_gets_a_segment_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 200, 0);
    let small = log.append(&frames(0..1)).unwrap()[0];
    let random: Vec<u8> = (0..2_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let big = EncodedFrame::encode(&random, 5, None);
    assert!(big.len() > 200);
    let at = log.append(&[big]).unwrap()[0];
    let after = log.append(&frames(1..2)).unwrap()[0];
    assert!(at > small);
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 3);
    assert_eq!(files[1], dir.path().join(name(at)));
    assert_eq!(files[2], dir.path().join(name(after)));
    assert_eq!(log.read(at).unwrap(), random);
    drop(log);
    let (log, _) = open(dir.path(), 200, 0);
    assert_eq!(log.read(at).unwrap(), random);
    assert_eq!(log.read(after).unwrap(), payload(1));
}

#[test]
fn reading_inside_a_frame_is_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 1 << 20, 0);
    let positions = log.append(&frames(0..3)).unwrap();
    for at in positions[0] + 1..log.end() {
        if positions.contains(&at) {
            continue;
        }
        assert!(
            matches!(log.read(at), Err(LogError::Corrupt { .. })),
            "{at}"
        );
        assert!(log.scan(at).next().unwrap().is_err());
    }
}

/// Opens `path` for a test to damage a segment file.
pub(super) fn damage(path: &Path) -> std::fs::File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

#[test]
fn the_log_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Log>();
}

#[test]
fn room_reserved_ahead_is_allocated_without_lengthening_the_segment_and_survives_a_roll() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 4096, 0);
    let batch = frames(0..3);
    let bytes: u64 = batch.iter().map(EncodedFrame::len).sum();
    log.reserve(bytes).unwrap();
    let first = segment_files(dir.path()).pop().unwrap();
    let meta = std::fs::metadata(&first).unwrap();
    assert_eq!(meta.len(), 0, "the length is where the frames end");
    assert!(meta.blocks() * 512 >= bytes, "the room is allocated");
    let at = log.append(&batch).unwrap();
    assert_eq!(at[0], 0);
    // A batch that does not fit the segment: the reservation rolls, as append would, and
    // the new segment gets the room.
    // Bytes lz4 cannot shrink: the two frames fit a 4 KiB segment, not what is left of the first.
    let noise = |seed: u64| -> Vec<u8> {
        let mut x = seed;
        (0..1950)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    };
    let big = vec![
        EncodedFrame::encode(&noise(1), 5_000, None),
        EncodedFrame::encode(&noise(2), 5_001, None),
    ];
    let bytes: u64 = big.iter().map(EncodedFrame::len).sum();
    log.reserve(bytes).unwrap();
    let files = segment_files(dir.path());
    assert_eq!(files.len(), 2);
    let meta = std::fs::metadata(files.last().unwrap()).unwrap();
    assert_eq!(meta.len(), 0);
    assert!(meta.blocks() * 512 >= bytes);
    let at = log.append(&big).unwrap();
    assert_eq!(
        at[0],
        log.end() - bytes,
        "appended where it was reserved, in the new segment"
    );
    assert_eq!(segment_files(dir.path()).len(), 2, "no further roll");
    assert_eq!(log.read(at[1]).unwrap(), noise(2));
}
