//! Reads: one frame by position, its time alone, and a scan in log order. None takes the
//! writer's lock; each looks its segment up and reads with pread on the shared handle.

use std::sync::Arc;

use super::segment::Segment;
use super::{Log, LogError, Position};

impl Log {
    /// The payload (decompressed) of the frame at `at`, checksum verified. Missing when `at`
    /// is in no segment (dropped by retention, a gap, or past the end).
    pub fn read(&self, at: Position) -> Result<Vec<u8>, LogError> {
        let segment = self.segment_at(at).ok_or(LogError::Missing { at })?;
        Ok(segment.frame(at, &self.dictionaries)?.1)
    }

    /// The time_ms stored in the header of the frame at `at`. Cheap — the header only, so
    /// the checksum (which covers the whole frame) is not verified.
    #[cfg(test)]
    pub fn time_at(&self, at: Position) -> Result<i64, LogError> {
        let segment = self.segment_at(at).ok_or(LogError::Missing { at })?;
        Ok(segment.header(at)?.time_ms)
    }

    /// Every frame at or after `from`, in log order, as a [`Scanned`]; it
    /// continues across segments and gaps. A frame that fails its checksum yields one error
    /// and the scan resumes at the next segment, since nothing in a segment says where the
    /// frame after a bad one starts; a whole frame whose payload cannot be decompressed
    /// yields one error and the scan goes on with the frame after it.
    pub fn scan(&self, from: Position) -> impl Iterator<Item = Result<Scanned, LogError>> + '_ {
        Scan {
            log: self,
            next: from,
        }
    }

    /// The segment holding `at`, or else the first one after it.
    fn segment_from(&self, at: Position) -> Option<Arc<Segment>> {
        if let Some(segment) = self.segment_at(at) {
            return Some(segment);
        }
        let segments = self.read_segments();
        let (_, next) = segments.range(at.saturating_add(1)..).next()?;
        Some(Arc::clone(next))
    }
}

/// The iterator behind [`Log::scan`]. Frames appended while it runs are seen if it has
/// not passed their position yet.
/// One frame found by a scan.
#[derive(Debug)]
pub struct Scanned {
    pub at: Position,
    /// Where the next frame starts (this frame's end).
    pub end: Position,
    pub time_ms: i64,
    pub payload: Vec<u8>,
}

struct Scan<'a> {
    log: &'a Log,
    next: Position,
}

impl Iterator for Scan<'_> {
    type Item = Result<Scanned, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let segment = self.log.segment_from(self.next)?;
            // A gap, or a position dropped by retention: carry on at the segment's start.
            let at = self.next.max(segment.base);
            if at >= segment.end() {
                // An empty segment (the active one before its first frame): look past it.
                self.next = at.checked_add(1)?;
                continue;
            }
            return Some(match segment.frame(at, &self.log.dictionaries) {
                Ok((header, payload)) => {
                    self.next = at + header.frame_len();
                    Ok(Scanned {
                        at,
                        end: self.next,
                        time_ms: header.time_ms,
                        payload,
                    })
                }
                Err(e) => {
                    // A frame that is whole but cannot be decompressed (its dictionary is
                    // damaged, say) is one error; the next frame starts right after it.
                    // Otherwise nothing says where the next frame starts.
                    self.next = match segment.whole_frame_len(at) {
                        Some(len) => at + len,
                        None => segment.end(),
                    };
                    Err(e)
                }
            });
        }
    }
}
