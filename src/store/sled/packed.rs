//! Stored values, packed: the JSON of a record compressed with zstd against a dictionary
//! that ships inside the binary.
//!
//! Ringback's records are small JSON documents whose bytes are mostly the same field names
//! and fragments in every value (`"status":"pending"`, `"kind":"missed_call"`, RFC 3339
//! times). Compressed one value at a time, plain zstd halves them; against a dictionary of
//! those fragments a callback of ~840 bytes packs into ~75 and a timeline change of ~510
//! into ~95 (`docs/storage.md`, measured on a store of `bench/run`'s mix). Packing costs
//! ~1.3 µs and unpacking ~0.4 µs per value. Values stay JSON underneath, so everything
//! `records.rs` says about tolerance of added fields holds.
//!
//! Layout of a packed value:
//!
//! | bytes | what |
//! |---|---|
//! | 1 | codec: [`CODEC_DICT_1`] |
//! | 4 (u32 LE) | the JSON's length |
//! | n | a zstd frame (no content size, no dictionary id: both are known) |
//!
//! A value whose first byte is anything else is JSON as written before schema 5 (it starts
//! with `{`, `[` or `"`) or a value too small to gain from packing. **A dictionary, once
//! shipped, is part of the format**: it is never changed; a better one gets the next codec
//! byte, and every earlier one stays in the binary. `values-1.zdict` was trained with
//! `examples/value_dictionary.rs` on the stores that `docs/storage.md` describes.

use std::cell::RefCell;
use std::sync::LazyLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};
use zstd::zstd_safe::CParameter;

/// Codec byte: zstd against dictionary 1 (`values-1.zdict`).
pub const CODEC_DICT_1: u8 = 1;
/// Dictionary 1, trained on Ringback's own records.
const DICT_1: &[u8] = include_bytes!("values-1.zdict");
/// zstd level: 3 packs as small as 1 here and no slower (values are tiny).
const LEVEL: i32 = 3;
/// Values shorter than this are stored as they are: a few bytes cannot shrink by much.
const MIN_PACKED: usize = 32;
/// The largest JSON a packed value may claim to hold; a garbage length must not ask for
/// more before zstd can check anything.
const MAX_UNPACKED: usize = 16 << 20;

static ENCODER: LazyLock<EncoderDictionary<'static>> =
    LazyLock::new(|| EncoderDictionary::copy(DICT_1, LEVEL));
static DECODER: LazyLock<DecoderDictionary<'static>> =
    LazyLock::new(|| DecoderDictionary::copy(DICT_1));

thread_local! {
    // A context per thread: creating one costs more than packing a value.
    static PACKER: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `json` packed, or as it is when packing would not make it smaller.
pub fn pack(json: Vec<u8>) -> Vec<u8> {
    if json.len() < MIN_PACKED || json.len() > MAX_UNPACKED {
        return json;
    }
    let packed = PACKER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let packer = match cell.as_mut() {
            Some(p) => p,
            None => cell.insert(new_packer().ok()?),
        };
        packer.compress(&json).ok()
    });
    match packed {
        Some(frame) if frame.len() + 5 < json.len() => {
            let mut out = Vec::with_capacity(5 + frame.len());
            out.push(CODEC_DICT_1);
            out.extend_from_slice(&(json.len() as u32).to_le_bytes());
            out.extend_from_slice(&frame);
            out
        }
        _ => json,
    }
}

fn new_packer() -> std::io::Result<Compressor<'static>> {
    let mut packer = Compressor::with_prepared_dictionary(&ENCODER)?;
    packer.set_parameter(CParameter::ContentSizeFlag(false))?;
    packer.set_parameter(CParameter::DictIdFlag(false))?;
    packer.set_parameter(CParameter::ChecksumFlag(false))?;
    Ok(packer)
}

/// Why a value could not be unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnpackError {
    #[error("packed value shorter than its header")]
    Short,
    #[error("packed value claims {0} bytes, over the limit")]
    TooLarge(usize),
    #[error("zstd: {0}")]
    Zstd(String),
    #[error("unpacked to {got} bytes, not the {expected} its header says")]
    Length { expected: usize, got: usize },
}

/// The JSON of a stored value: unpacked when packed, borrowed as it is otherwise.
pub fn unpack(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, UnpackError> {
    if bytes.first() != Some(&CODEC_DICT_1) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let (len, frame) = bytes[1..]
        .split_first_chunk::<4>()
        .ok_or(UnpackError::Short)?;
    let expected = u32::from_le_bytes(*len) as usize;
    if expected > MAX_UNPACKED {
        return Err(UnpackError::TooLarge(expected));
    }
    let json = UNPACKER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let unpacker = match cell.as_mut() {
            Some(u) => u,
            None => cell.insert(
                Decompressor::with_prepared_dictionary(&DECODER)
                    .map_err(|e| UnpackError::Zstd(e.to_string()))?,
            ),
        };
        unpacker
            .decompress(frame, expected)
            .map_err(|e| UnpackError::Zstd(e.to_string()))
    })?;
    if json.len() != expected {
        return Err(UnpackError::Length {
            expected,
            got: json.len(),
        });
    }
    Ok(std::borrow::Cow::Owned(json))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLBACK: &[u8] = br#"{"id":"01KSQ5M0Y1V6T3Q8D2Z7W9X4E5","customer_number":"+919876500801","status":"pending","missed_calls":1,"first_missed_at":"2026-05-28T05:50:00Z","last_missed_at":"2026-05-28T05:50:00Z","first_received_at":"2026-05-28T06:00:00Z","last_received_at":"2026-05-28T06:00:00Z","assigned_agent":{"name":"Priya","number":"+919800000012"},"missed_agents":[],"department":"Support","attempts":0,"reminders_sent":0,"escalation_level":0,"reminder_due_at":null,"snoozed_until":null,"resolved_at":null,"resolution":null,"timeline_len":3}"#;

    #[test]
    fn a_packed_record_unpacks_to_its_json() {
        let packed = pack(CALLBACK.to_vec());
        assert_eq!(packed[0], CODEC_DICT_1);
        assert_eq!(unpack(&packed).unwrap().as_ref(), CALLBACK);
    }

    #[test]
    fn the_dictionary_packs_a_callback_into_a_fraction_of_its_json() {
        let packed = pack(CALLBACK.to_vec());
        assert!(
            packed.len() * 3 < CALLBACK.len(),
            "{} of {} bytes",
            packed.len(),
            CALLBACK.len()
        );
    }

    #[test]
    fn json_written_before_packing_reads_as_it_is() {
        for json in [CALLBACK, b"[]", br#""x""#, b""] {
            assert_eq!(unpack(json).unwrap().as_ref(), json);
        }
    }

    #[test]
    fn a_value_too_small_to_gain_is_stored_as_it_is() {
        assert_eq!(pack(b"{}".to_vec()), b"{}");
    }

    #[test]
    fn a_damaged_packed_value_is_an_error_not_a_panic() {
        let packed = pack(CALLBACK.to_vec());
        assert_eq!(unpack(&packed[..3]), Err(UnpackError::Short));
        assert!(unpack(&packed[..packed.len() - 7]).is_err());
        let mut lying = packed.clone();
        lying[1..5].copy_from_slice(&(CALLBACK.len() as u32 + 10).to_le_bytes());
        assert!(unpack(&lying).is_err());
        let mut huge = packed.clone();
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(unpack(&huge), Err(UnpackError::TooLarge(u32::MAX as usize)));
        let mut flipped = packed;
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        // zstd without a checksum may decode a flipped bit into other bytes; the JSON
        // reader then refuses them. It must never panic.
        let _ = unpack(&flipped);
    }
}
