//! Retention (whole sealed segments) and backups (a consistent copy of the segments).

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::segment::{Segment, io_at, name, sync_dir};
use super::{Log, LogError, lock};

/// Bytes copied per read and write when a segment cannot be hard-linked.
const COPY_CHUNK: usize = 1 << 20;

impl Log {
    /// Deletes whole sealed segments all of whose frames are older than `cutoff_ms`; never
    /// the active segment. Returns (segments, bytes) removed.
    ///
    /// A sealed segment's newest time is taken as the first frame time of the segment after
    /// it: records arrive nearly in time order, so a frame slightly out of order may outlive
    /// the cutoff by one segment, which retention can afford. A segment followed by one with
    /// no frame yet stays until that one has a frame. Only a prefix of the log is dropped,
    /// so [`Log::start`] stays the first position kept.
    pub fn drop_older_than(&self, cutoff_ms: i64) -> Result<(usize, u64), LogError> {
        let _maintenance = lock(&self.maintenance);
        let segments: Vec<Arc<Segment>> = self.read_segments().values().cloned().collect();
        let mut doomed = Vec::new();
        // Pairs (segment, the one after it): the last, active, segment is never the first.
        for pair in segments.windows(2) {
            let [segment, next] = pair else {
                unreachable!()
            };
            let newest = match next.len() {
                0 => break,
                _ => next.header(next.base)?.time_ms,
            };
            if newest >= cutoff_ms {
                break;
            }
            doomed.push(Arc::clone(segment));
        }
        if doomed.is_empty() {
            return Ok((0, 0));
        }
        // Out of the map first, so readers answer Missing; a read already holding the
        // handle finishes on the unlinked file.
        {
            let mut map = self.write_segments();
            for segment in &doomed {
                map.remove(&segment.base);
            }
        }
        let mut bytes = 0;
        for segment in &doomed {
            fs::remove_file(&segment.path).map_err(io_at(&segment.path))?;
            bytes += segment.len();
        }
        sync_dir(&self.dir)?;
        tracing::info!(
            segments = doomed.len(),
            bytes,
            cutoff_ms,
            "event log: dropped old segments"
        );
        Ok((doomed.len(), bytes))
    }

    /// A consistent copy into `dir` (a backup): sealed segments hard-linked when `dir` is on
    /// the same file system, else copied; the active one copied up to [`Log::end`] at the
    /// time of the call; everything synced. Returns the bytes of the copy, linked included.
    pub fn copy_to(&self, dir: &Path) -> Result<u64, LogError> {
        let _maintenance = lock(&self.maintenance);
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        // The list and the active length are read together, under the map's lock, so the
        // copy ends where the log ended at one moment: a roll cannot slip in between.
        let (sealed, active, active_len) = {
            let map = self.read_segments();
            let mut all: Vec<Arc<Segment>> = map.values().cloned().collect();
            let active = all.pop().expect("an active segment");
            let len = active.len();
            (all, active, len)
        };
        // Dictionaries before the frames that need them.
        self.dictionaries.copy_to(dir)?;
        let mut bytes = 0;
        for segment in &sealed {
            let to = dir.join(name(segment.base));
            let len = segment.len();
            if fs::hard_link(&segment.path, &to).is_err() {
                copy_prefix(segment, &to, len)?;
            }
            bytes += len;
        }
        copy_prefix(&active, &dir.join(name(active.base)), active_len)?;
        bytes += active_len;
        sync_dir(dir)?;
        Ok(bytes)
    }
}

/// Copies the first `len` bytes of `segment` to a new file `to`, synced.
fn copy_prefix(segment: &Segment, to: &Path, len: u64) -> Result<(), LogError> {
    let out = File::create_new(to).map_err(io_at(to))?;
    let mut buffer = vec![0; COPY_CHUNK.min(len as usize)];
    let mut offset = 0;
    while offset < len {
        let n = COPY_CHUNK.min((len - offset) as usize);
        segment
            .file
            .read_exact_at(&mut buffer[..n], offset)
            .map_err(io_at(&segment.path))?;
        out.write_all_at(&buffer[..n], offset).map_err(io_at(to))?;
        offset += n as u64;
    }
    out.sync_all().map_err(io_at(to))
}
