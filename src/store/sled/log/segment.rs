//! Segment files: their names, the open handle each keeps, and the check of the last one's
//! tail at open.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::{self, HEADER_BYTES, Header};
use super::{LogError, Position};

/// Digits in a segment's name: u64::MAX has 20.
const NAME_DIGITS: usize = 20;
const SUFFIX: &str = ".log";

/// One segment file, opened once and shared by the writer, the flusher and readers.
pub(super) struct Segment {
    /// The global position of its first byte.
    pub base: Position,
    pub path: PathBuf,
    /// Read-write for the active segment, read-only for sealed ones. Reads and writes are
    /// positional, so threads never share a cursor.
    pub file: File,
    /// Bytes holding whole frames. Only the writer raises it, after the bytes are written,
    /// so a reader that sees a length sees the frames below it.
    len: AtomicU64,
}

impl Segment {
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    pub fn set_len(&self, len: u64) {
        self.len.store(len, Ordering::Release);
    }

    /// One past the last byte holding a frame.
    pub fn end(&self) -> Position {
        self.base + self.len()
    }

    /// Creates an empty segment at `base` (the caller syncs the directory).
    pub fn create(dir: &Path, base: Position) -> Result<Segment, LogError> {
        let path = dir.join(name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_at(&path))?;
        Ok(Segment {
            base,
            path,
            file,
            len: AtomicU64::new(0),
        })
    }

    /// Opens a sealed segment read-only, trusting its length: sealed segments were synced
    /// whole before the next one was created.
    pub fn open_sealed(path: PathBuf, base: Position) -> Result<Segment, LogError> {
        let file = File::open(&path).map_err(io_at(&path))?;
        let len = file.metadata().map_err(io_at(&path))?.len();
        Ok(Segment {
            base,
            path,
            file,
            len: AtomicU64::new(len),
        })
    }

    /// Opens the last segment for appending: walks its frames and truncates (then syncs) a
    /// torn or corrupt tail. Returns the segment and the bytes cut.
    pub fn open_active(path: PathBuf, base: Position) -> Result<(Segment, u64), LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let len = file.metadata().map_err(io_at(&path))?.len();
        let valid = valid_prefix(&file, len).map_err(io_at(&path))?;
        let cut = len - valid;
        if cut > 0 {
            file.set_len(valid).map_err(io_at(&path))?;
            file.sync_all().map_err(io_at(&path))?;
        }
        let segment = Segment {
            base,
            path,
            file,
            len: AtomicU64::new(valid),
        };
        Ok((segment, cut))
    }

    /// The header of the frame at `at`, checked against this segment's length.
    pub fn header(&self, at: Position) -> Result<Header, LogError> {
        let offset = self.offset(at)?;
        let room = self.len() - offset;
        let corrupt = |reason: &str| LogError::Corrupt {
            at,
            reason: reason.to_owned(),
        };
        if room < HEADER_BYTES as u64 {
            return Err(corrupt("too close to the segment's end for a header"));
        }
        let mut bytes = [0; HEADER_BYTES];
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(io_at(&self.path))?;
        let header = Header::parse(&bytes).ok_or_else(|| corrupt("no frame header"))?;
        header.check(at, room)?;
        Ok(header)
    }

    /// The length of the frame at `at` if it is whole and passes its checksum — whether or
    /// not its payload can be decompressed.
    pub fn whole_frame_len(&self, at: Position) -> Option<u64> {
        let header = self.header(at).ok()?;
        let mut bytes = vec![0; header.frame_len() as usize];
        self.file
            .read_exact_at(&mut bytes, self.offset(at).ok()?)
            .ok()?;
        frame::is_valid(&bytes)
    }

    /// The frame at `at`: its time and payload, checksum verified.
    pub fn frame(
        &self,
        at: Position,
        dictionaries: &super::dict::Dictionaries,
    ) -> Result<(Header, Vec<u8>), LogError> {
        let header = self.header(at)?;
        let mut bytes = vec![0; header.frame_len() as usize];
        self.file
            .read_exact_at(&mut bytes, self.offset(at)?)
            .map_err(io_at(&self.path))?;
        let payload = frame::decode(at, &header, &bytes, dictionaries)?;
        Ok((header, payload))
    }

    fn offset(&self, at: Position) -> Result<u64, LogError> {
        match at.checked_sub(self.base) {
            Some(offset) if offset < self.len() => Ok(offset),
            _ => Err(LogError::Missing { at }),
        }
    }
}

/// A segment's file name: the base position, zero-padded so names sort as positions do.
pub(super) fn name(base: Position) -> String {
    format!("{base:0NAME_DIGITS$}{SUFFIX}")
}

/// The segment files in `dir` by base position, in order; other files are left alone.
pub(super) fn list(dir: &Path) -> Result<Vec<(Position, PathBuf)>, LogError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if stem.len() == NAME_DIGITS
            && stem.bytes().all(|b| b.is_ascii_digit())
            && let Ok(base) = stem.parse()
        {
            found.push((base, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(base, _)| *base);
    Ok(found)
}

/// Makes the directory's entries (created, renamed or removed files) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

pub(super) fn io_at(path: &Path) -> impl Fn(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The length of the run of whole, valid frames at the start of `file` (`len` bytes long).
/// Reads through a window of [`SCAN_WINDOW`] bytes (or one frame, if bigger), never the
/// whole segment: a full 32 MiB segment read at once stayed as resident memory after open.
fn valid_prefix(file: &File, len: u64) -> std::io::Result<u64> {
    valid_prefix_with(file, len, SCAN_WINDOW)
}

fn valid_prefix_with(file: &File, len: u64, read_size: u64) -> std::io::Result<u64> {
    let mut window = Vec::new();
    // The file offset of `window[0]`.
    let mut start = 0u64;
    let mut valid = 0u64;
    loop {
        let here = &window[(valid - start) as usize..];
        if let Some(frame_len) = frame::is_valid(here) {
            valid += frame_len;
            continue;
        }
        let Some(wanted) = frame::wanted_len(here) else {
            return Ok(valid);
        };
        let window_end = start + window.len() as u64;
        if wanted <= here.len() as u64 || window_end >= len {
            // The frame was all there and is not valid, or the file ends before it does.
            return Ok(valid);
        }
        start = valid;
        let size = (len - start).min(wanted.max(read_size));
        window.resize(size as usize, 0);
        file.read_exact_at(&mut window, start)?;
    }
}

/// The read size of [`valid_prefix`].
const SCAN_WINDOW: u64 = 1 << 20;

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::store::sled::log::frame::EncodedFrame;

    /// `n` bytes that do not compress, so a frame holds them as they are.
    fn noise(n: usize, seed: u32) -> Vec<u8> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect()
    }

    /// A segment of frames of varied sizes (up to a few of the smaller read sizes below),
    /// then `tail`; returns it and the length of its frames.
    fn segment_with(tail: &[u8]) -> (tempfile::NamedTempFile, u64) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let mut whole = 0;
        for (i, n) in [1usize, 40, 300, 5, 1000, 64, 2500, 17, 0, 700]
            .into_iter()
            .enumerate()
        {
            let frame = EncodedFrame::encode(&noise(n, i as u32), n as i64, None);
            file.write_all(frame.bytes()).unwrap();
            whole += frame.len();
        }
        file.write_all(tail).unwrap();
        file.flush().unwrap();
        (file, whole)
    }

    #[test]
    fn the_valid_frames_are_found_whatever_the_read_size() {
        let torn = EncodedFrame::encode(&noise(900, 99), 1, None);
        let torn = &torn.bytes()[..500];
        let mut flipped = EncodedFrame::encode(&noise(300, 98), 1, None)
            .bytes()
            .to_vec();
        flipped[100] ^= 1;
        for tail in [
            &b""[..],
            &[0; 64],
            torn,
            &torn[..10],
            &flipped,
            b"not a frame header",
        ] {
            let (file, whole) = segment_with(tail);
            let len = file.as_file().metadata().unwrap().len();
            for read_size in [1, 17, 100, 1000, 4096, SCAN_WINDOW] {
                assert_eq!(
                    valid_prefix_with(file.as_file(), len, read_size).unwrap(),
                    whole,
                    "tail of {} bytes, read {read_size} at a time",
                    tail.len()
                );
            }
        }
    }

    #[test]
    fn frames_after_the_tail_are_never_reached() {
        // A valid frame after a torn one is not part of the log: nothing after a tear was
        // acknowledged.
        let torn = EncodedFrame::encode(&noise(900, 99), 1, None);
        let mut tail = torn.bytes()[..500].to_vec();
        tail.extend_from_slice(EncodedFrame::encode(&noise(50, 97), 1, None).bytes());
        let (file, whole) = segment_with(&tail);
        let len = file.as_file().metadata().unwrap().len();
        for read_size in [17, 4096, SCAN_WINDOW] {
            assert_eq!(
                valid_prefix_with(file.as_file(), len, read_size).unwrap(),
                whole
            );
        }
    }
}
