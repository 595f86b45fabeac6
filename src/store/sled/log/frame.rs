//! One frame: encoding (compression and checksum, done off the writer thread) and the
//! checks a reader makes before trusting a frame. The layout is in the module's header.

use std::sync::Arc;

use super::dict::Dictionaries;
use super::{LogError, Position};

/// Bytes before a frame's data: length, checksum, codec, time.
pub(super) const HEADER_BYTES: usize = 4 + 4 + 1 + 8;
/// The part of the header the checksum covers (codec and time), counted in `len`.
const COVERED_HEADER: u32 = 1 + 8;
/// The largest frame accepted, header included. Webhook bodies are far smaller; the bound
/// keeps a garbage length from asking for gigabytes before its checksum can be checked.
pub const MAX_FRAME_BYTES: u64 = 64 << 20;

/// The data is stored as given.
const CODEC_STORED: u8 = 0;
/// lz4 block (`lz4_flex`), preceded by the uncompressed length as u32 LE.
const CODEC_LZ4: u8 = 1;
/// A zstd frame against one of the log's dictionaries (`dict.rs`), which names it.
const CODEC_ZSTD_DICT: u8 = 2;

/// A frame ready to append: compressed and checksummed off the writer thread.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    bytes: Vec<u8>,
}

impl EncodedFrame {
    /// `time_ms`: the record's time (ms since epoch) — kept in the frame header, used by retention.
    /// Compressed against the log's current dictionary when given one and it has one,
    /// with lz4 otherwise.
    pub fn encode(
        payload: &[u8],
        time_ms: i64,
        dictionaries: Option<&Arc<Dictionaries>>,
    ) -> EncodedFrame {
        let (codec, compressed) = match dictionaries.and_then(|d| d.compress(payload)) {
            Some(zstd) => (CODEC_ZSTD_DICT, zstd),
            None => (CODEC_LZ4, lz4_flex::compress_prepend_size(payload)),
        };
        // Small or random payloads can grow; those are stored as they are.
        let (codec, data) = if compressed.len() < payload.len() {
            (codec, compressed.as_slice())
        } else {
            (CODEC_STORED, payload)
        };
        let mut bytes = Vec::with_capacity(HEADER_BYTES + data.len());
        // A length too big for u32 is refused by append (TooLarge) before anything reads it.
        let len = u32::try_from(data.len())
            .ok()
            .and_then(|n| n.checked_add(COVERED_HEADER))
            .unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.push(codec);
        bytes.extend_from_slice(&time_ms.to_le_bytes());
        bytes.extend_from_slice(data);
        let crc = crc32fast::hash(&bytes[8..]);
        bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        EncodedFrame { bytes }
    }

    /// Bytes it occupies on disk.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A frame header as read, not yet trusted beyond its length.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    /// Bytes after the checksum field: codec, time and data.
    pub covered: u32,
    pub crc: u32,
    pub codec: u8,
    pub time_ms: i64,
}

impl Header {
    /// `None` when the bytes cannot begin a frame: a zero length (a zero-filled tail reads as
    /// the end of the log), or one shorter than the header itself.
    pub fn parse(bytes: &[u8; HEADER_BYTES]) -> Option<Header> {
        let covered = u32::from_le_bytes(bytes[0..4].try_into().ok()?);
        if covered < COVERED_HEADER {
            return None;
        }
        Some(Header {
            covered,
            crc: u32::from_le_bytes(bytes[4..8].try_into().ok()?),
            codec: bytes[8],
            time_ms: i64::from_le_bytes(bytes[9..17].try_into().ok()?),
        })
    }

    /// The whole frame's size on disk.
    pub fn frame_len(&self) -> u64 {
        8 + u64::from(self.covered)
    }

    /// Checks a frame that lies within `room` bytes of its segment: size and codec, from the
    /// header alone.
    pub fn check(&self, at: Position, room: u64) -> Result<(), LogError> {
        let corrupt = |reason: String| LogError::Corrupt { at, reason };
        if self.frame_len() > MAX_FRAME_BYTES {
            return Err(corrupt(format!(
                "length {} is over the limit",
                self.covered
            )));
        }
        if self.frame_len() > room {
            return Err(corrupt(format!(
                "length {} runs past the segment's end",
                self.covered
            )));
        }
        if ![CODEC_STORED, CODEC_LZ4, CODEC_ZSTD_DICT].contains(&self.codec) {
            return Err(corrupt(format!("unknown codec {}", self.codec)));
        }
        Ok(())
    }
}

/// Verifies the checksum of a whole frame (`frame` starts at its header) and returns its
/// payload, decompressed.
pub(super) fn decode(
    at: Position,
    header: &Header,
    frame: &[u8],
    dictionaries: &Dictionaries,
) -> Result<Vec<u8>, LogError> {
    let corrupt = |reason: &str| LogError::Corrupt {
        at,
        reason: reason.to_owned(),
    };
    if crc32fast::hash(&frame[8..]) != header.crc {
        return Err(corrupt("checksum mismatch"));
    }
    let data = &frame[HEADER_BYTES..];
    match header.codec {
        CODEC_STORED => Ok(data.to_vec()),
        CODEC_LZ4 => {
            let (size, block) = data
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("lz4 data shorter than its size"))?;
            let size = u32::from_le_bytes(*size) as usize;
            if size as u64 > MAX_FRAME_BYTES {
                return Err(corrupt("lz4 size over the limit"));
            }
            lz4_flex::decompress(block, size).map_err(|e| LogError::Corrupt {
                at,
                reason: format!("lz4: {e}"),
            })
        }
        CODEC_ZSTD_DICT => dictionaries.decompress(at, data),
        other => Err(LogError::Corrupt {
            at,
            reason: format!("unknown codec {other}"),
        }),
    }
}

/// Whether `bytes` (a frame, header first) is whole and passes its checksum: how a
/// segment's tail is validated at open.
/// How many bytes from the start of `bytes` a reader needs to judge the frame there: the
/// header's size while it is not all there, then the frame's length. `None` when the header
/// is there and cannot begin a frame (the log ends there).
pub(super) fn wanted_len(bytes: &[u8]) -> Option<u64> {
    let Some(header) = bytes.first_chunk::<HEADER_BYTES>() else {
        return Some(HEADER_BYTES as u64);
    };
    let len = Header::parse(header)?.frame_len();
    (len <= MAX_FRAME_BYTES).then_some(len)
}

pub(super) fn is_valid(bytes: &[u8]) -> Option<u64> {
    let header = Header::parse(bytes.first_chunk::<HEADER_BYTES>()?)?;
    let len = header.frame_len();
    if len > MAX_FRAME_BYTES || len > bytes.len() as u64 {
        return None;
    }
    let frame = &bytes[..len as usize];
    (crc32fast::hash(&frame[8..]) == header.crc).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log directory's dictionaries when it has none.
    fn no_dictionaries() -> (tempfile::TempDir, Arc<Dictionaries>) {
        let dir = tempfile::tempdir().unwrap();
        let dictionaries = Dictionaries::open(dir.path(), 1).unwrap();
        (dir, dictionaries)
    }

    #[test]
    fn an_encoded_frame_decodes_to_its_payload_and_time() {
        for payload in [
            &b""[..],
            b"x",
            &br#"{"call_id":"1.2","x":"aaaaaaaaaaaaaaaaaaaaaaaa"}"#.repeat(20),
        ] {
            let frame = EncodedFrame::encode(payload, -42, None);
            let header = Header::parse(frame.bytes().first_chunk().unwrap()).unwrap();
            assert_eq!(header.time_ms, -42);
            assert_eq!(header.frame_len(), frame.len());
            header.check(7, frame.len()).unwrap();
            assert_eq!(
                decode(7, &header, frame.bytes(), &no_dictionaries().1).unwrap(),
                payload
            );
            assert_eq!(is_valid(frame.bytes()), Some(frame.len()));
        }
    }

    #[test]
    fn a_repetitive_payload_is_stored_compressed() {
        let payload = br#"{"call_flow":[{"type":"IVR"}]}"#.repeat(50);
        assert!(EncodedFrame::encode(&payload, 0, None).len() < payload.len() as u64 / 4);
    }

    #[test]
    fn zeros_do_not_begin_a_frame() {
        assert!(Header::parse(&[0; HEADER_BYTES]).is_none());
        assert_eq!(is_valid(&[0; 64]), None);
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let frame = EncodedFrame::encode(b"hello, log", 1, None);
        let mut bytes = frame.bytes().to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        assert_eq!(is_valid(&bytes), None);
        let header = Header::parse(bytes.first_chunk().unwrap()).unwrap();
        assert!(matches!(
            decode(0, &header, &bytes, &no_dictionaries().1),
            Err(LogError::Corrupt { .. })
        ));
    }
}
