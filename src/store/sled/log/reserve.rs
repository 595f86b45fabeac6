//! Room for a batch before it is applied. The writer applies a batch to sled first and
//! appends its frames after; a full disk found only at the append would leave sled holding
//! writes nobody was told are durable (sled may flush them on its own). So the writer asks
//! for the batch's bytes here first: the log rolls to a new segment if they would not fit the
//! active one (as `append` would), and allocates the space ahead of the end with
//! `fallocate(FALLOC_FL_KEEP_SIZE)` — the file's length, which open trusts, stays where the
//! frames end. A full disk then fails the batch before anything is applied.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::segment::{Segment, io_at};
use super::{Log, LogError, lock};

/// Allocated at a time ahead of the end: few system calls, little held back on a full disk.
const CHUNK: u64 = 256 << 10;

impl Log {
    /// Makes sure `bytes` more can be appended without the file system running out of room.
    pub fn reserve(&self, bytes: u64) -> Result<(), LogError> {
        if bytes == 0 {
            return Ok(());
        }
        let mut active = lock(&self.writer);
        let used = active.len();
        if used > 0 && used + bytes > self.opts.segment_bytes {
            *active = self.roll(&active)?;
        }
        let want = active.end() + bytes;
        let reserved = self.reserved.load(Ordering::Acquire);
        if reserved >= want {
            return Ok(());
        }
        let upto = want + CHUNK;
        allocate(&active, active.len(), upto - active.end())?;
        self.reserved.store(upto, Ordering::Release);
        Ok(())
    }
}

fn allocate(segment: &Segment, offset: u64, len: u64) -> Result<(), LogError> {
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Ok(());
    };
    // SAFETY: fallocate only reads its integer arguments; the descriptor is the segment's
    // open file, alive for this call.
    let rc = unsafe {
        libc::fallocate(
            segment.file.as_raw_fd(),
            libc::FALLOC_FL_KEEP_SIZE,
            offset,
            len,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    // A file system without fallocate: appends find a full disk the old way.
    if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP)) {
        return Ok(());
    }
    Err(io_at(&segment.path)(e))
}
