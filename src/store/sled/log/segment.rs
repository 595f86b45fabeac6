//! Segment files: their names, the open handle each keeps, and the check of the last one's
//! tail at open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
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
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_at(&path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_at(&path))?;
        let mut valid = 0usize;
        while let Some(len) = frame::is_valid(&bytes[valid..]) {
            valid += len as usize;
        }
        let cut = (bytes.len() - valid) as u64;
        if cut > 0 {
            file.set_len(valid as u64).map_err(io_at(&path))?;
            file.sync_all().map_err(io_at(&path))?;
        }
        let segment = Segment {
            base,
            path,
            file,
            len: AtomicU64::new(valid as u64),
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
