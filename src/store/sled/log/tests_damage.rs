//! Damaged segments: what a crash or a bad disk can leave, and what open makes of it.

use std::os::unix::fs::FileExt;
use std::path::Path;

use super::tests::{all, damage, frames, open, payload, segment_files};
use super::*;

/// A log of two segments, the last holding three frames; returns their positions.
fn three_frames_in_the_last_segment(dir: &Path) -> Vec<Position> {
    let (log, _) = open(dir, 600, 0);
    log.append(&frames(0..4)).unwrap();
    let end = log.end();
    drop(log);
    // Past the end: a segment of its own for the last three.
    let (log, _) = open(dir, 600, end + 1);
    let positions = log.append(&frames(4..7)).unwrap();
    assert_eq!(positions[0], end + 1);
    assert_eq!(segment_files(dir).len(), 2);
    log.sync().unwrap();
    positions
}

/// Damages the last segment with `harm` (given the file and the last frame's offset in it),
/// reopens, and checks the cut and that the frames before the last are whole and appends work.
fn survives(harm: impl FnOnce(&std::fs::File, u64, u64)) {
    let dir = tempfile::tempdir().unwrap();
    let positions = three_frames_in_the_last_segment(dir.path());
    let last = segment_files(dir.path()).pop().unwrap();
    let base: Position = last.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let file = damage(&last);
    let size = file.metadata().unwrap().len();
    harm(&file, positions[2] - base, size);
    let damaged = file.metadata().unwrap().len();
    drop(file);

    let (log, opened) = open(dir.path(), 600, 0);
    assert_eq!(opened.end, positions[2], "the last frame is cut");
    assert_eq!(opened.cut_bytes, damaged - (positions[2] - base));
    assert_eq!(std::fs::metadata(&last).unwrap().len(), positions[2] - base);
    assert_eq!(log.read(positions[1]).unwrap(), payload(5));
    assert!(matches!(
        log.read(positions[2]),
        Err(LogError::Missing { .. })
    ));

    let again = log.append(&frames(9..10)).unwrap();
    assert_eq!(again, [positions[2]]);
    let scanned = all(&log);
    assert_eq!(scanned.len(), 7);
    assert_eq!(scanned[6].2, payload(9));
    drop(log);
    let (log, opened) = open(dir.path(), 600, 0);
    assert_eq!(opened.cut_bytes, 0);
    assert_eq!(log.read(positions[2]).unwrap(), payload(9));
}

#[test]
fn a_tail_cut_mid_header_is_cut_at_open() {
    survives(|file, last, _| file.set_len(last + 5).unwrap());
}

#[test]
fn a_tail_cut_mid_payload_is_cut_at_open() {
    survives(|file, _, size| file.set_len(size - 3).unwrap());
}

#[test]
fn a_flipped_byte_in_the_last_frame_is_cut_at_open() {
    survives(|file, last, _| {
        let mut byte = [0];
        file.read_exact_at(&mut byte, last + 20).unwrap();
        file.write_all_at(&[byte[0] ^ 0x40], last + 20).unwrap();
    });
}

#[test]
fn a_zero_filled_tail_is_cut_at_open() {
    // What a file system can show after a crash: the size grew, the data never landed.
    survives(|file, last, size| {
        file.write_all_at(&vec![0; (size - last) as usize], last)
            .unwrap();
        file.set_len(size + 4096).unwrap();
    });
}

#[test]
fn zeros_after_the_last_frame_are_cut_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let positions = three_frames_in_the_last_segment(dir.path());
    let last = segment_files(dir.path()).pop().unwrap();
    let size = std::fs::metadata(&last).unwrap().len();
    damage(&last).set_len(size + 100).unwrap();
    let (log, opened) = open(dir.path(), 600, 0);
    assert_eq!(opened.cut_bytes, 100);
    assert_eq!(log.read(positions[2]).unwrap(), payload(6));
}

#[test]
fn a_corrupt_frame_in_a_sealed_segment_is_one_error_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), 300, 0);
    let positions = log.append(&frames(0..12)).unwrap();
    drop(log);
    let first = segment_files(dir.path()).remove(0);
    damage(&first).write_all_at(&[0xff; 4], 30).unwrap();

    let (log, opened) = open(dir.path(), 300, 0);
    assert_eq!(
        opened.cut_bytes, 0,
        "sealed segments are not checked at open"
    );
    assert!(matches!(
        log.read(positions[0]),
        Err(LogError::Corrupt { .. })
    ));
    let scanned: Vec<_> = log.scan(0).collect();
    assert!(scanned[0].is_err());
    let good: Vec<Position> = scanned.into_iter().skip(1).map(|f| f.unwrap().at).collect();
    let in_second = positions.iter().position(|p| *p == good[0]).unwrap();
    assert_eq!(good, positions[in_second..]);
}
