//! How the database keeps a call's merged fields (`calls.details`) and an
//! event's update (`call_events.update_json`): their stored JSON
//! ([`crate::model::to_stored_json`]), compressed with zstd and written as
//! base64 behind a version prefix (decision 0013). A transcript is most of
//! a webhook's bytes in the database, and SQLite writes each of them twice
//! (WAL, then checkpoint); the benchmark's update, 26 KB of JSON before,
//! is 8.5 KB packed. Text without the prefix is the plain JSON of rows
//! written before, and is read as it is.

use base64::Engine as _;
use serde::{de::DeserializeOwned, Serialize};

/// Marks packed text; JSON never starts with it.
const PREFIX: &str = "z1:";

/// zstd's fastest level: the packing runs on the request threads, which
/// share two cores with everything else; higher levels cost several times
/// the CPU for a few percent fewer bytes (BENCHMARKS.md).
const LEVEL: i32 = 1;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// A stored call is tens of kilobytes; no packed text that claims more
/// than this is unpacked.
const MAX_UNPACKED: usize = 64 << 20;

thread_local! {
    // A zstd context is megabytes of tables: made once per thread, not per
    // value (that tripled the cost of packing one update).
    static COMPRESSOR: std::cell::RefCell<zstd::bulk::Compressor<'static>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(LEVEL).expect("a zstd context"));
    static DECOMPRESSOR: std::cell::RefCell<zstd::bulk::Decompressor<'static>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().expect("a zstd context"));
}

/// A value packed for a `details` or `update_json` column.
#[derive(Clone, Debug)]
pub struct Packed(String);

impl Packed {
    pub fn of<T: Serialize>(value: &T) -> Self {
        let json = crate::model::to_stored_json(value);
        let compressed = COMPRESSOR
            .with_borrow_mut(|zstd| zstd.compress(json.as_bytes()))
            .expect("zstd compresses any bytes into memory");
        let mut text = String::with_capacity(PREFIX.len() + compressed.len().div_ceil(3) * 4);
        text.push_str(PREFIX);
        BASE64.encode_string(&compressed, &mut text);
        Packed(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("packed text is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("packed text does not decompress: {0}")]
    Zstd(#[from] std::io::Error),
    #[error("stored JSON does not parse: {0}")]
    Json(#[from] serde_json::Error),
}

/// The value of a column written by [`Packed::of`], or of one written as
/// plain JSON before packing.
pub fn unpack<T: DeserializeOwned>(text: &str) -> Result<T, UnpackError> {
    match text.strip_prefix(PREFIX) {
        Some(packed) => {
            let compressed = BASE64.decode(packed)?;
            let json =
                DECOMPRESSOR.with_borrow_mut(|zstd| zstd.decompress(&compressed, MAX_UNPACKED))?;
            Ok(serde_json::from_slice(&json)?)
        }
        None => Ok(serde_json::from_str(text)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CallFields, CallUpdate};
    use crate::synthetic;

    fn call() -> CallFields {
        let payload = synthetic::to_retell_call_ended(&synthetic::five_minute_call(7)).to_string();
        let update: CallUpdate = crate::providers::retell::parse(payload.as_bytes())
            .expect("the synthetic payload parses")
            .expect("call_ended describes a call");
        update.fields
    }

    #[test]
    fn packed_fields_come_back_equal_in_less_than_half_the_bytes() {
        let fields = call();
        let json = crate::model::to_stored_json(&fields);
        let packed = Packed::of(&fields);
        assert!(packed.as_str().starts_with(PREFIX));
        assert!(
            packed.as_str().len() * 2 < json.len(),
            "{} packed bytes for {} of JSON",
            packed.as_str().len(),
            json.len()
        );
        let back: CallFields = unpack(packed.as_str()).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&fields).unwrap()
        );
    }

    /// A sender's value nested nearly as deep as a JSON parser reads would
    /// be accepted and stored one level deeper, where it could not be read
    /// back: every read of its call would fail.
    #[test]
    fn the_deepest_value_a_sender_may_send_comes_back_from_storage() {
        use crate::providers::{switchboard, MAX_FREE_FORM_DEPTH};
        let document = |depth: usize| {
            format!(
                r#"{{"external_id":"deep","direction":"inbound","from":"+14155550123","to":"+14155550100",
                "started_at":"2026-03-01T10:00:00Z","metadata":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        let deepest = switchboard::parse(document(MAX_FREE_FORM_DEPTH).as_bytes())
            .expect("as deep as allowed")
            .update;
        let back: CallUpdate = unpack(Packed::of(&deepest).as_str()).unwrap();
        assert_eq!(back.fields.metadata, deepest.fields.metadata);
        for depth in [MAX_FREE_FORM_DEPTH + 1, 126] {
            let errors = switchboard::parse(document(depth).as_bytes()).unwrap_err();
            assert_eq!(errors[0].field, "metadata", "{depth} levels");
        }
    }

    #[test]
    fn rows_written_as_plain_json_are_read_as_they_are() {
        let fields = call();
        let plain = crate::model::to_stored_json(&fields);
        let back: CallFields = unpack(&plain).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&fields).unwrap()
        );
    }

    #[test]
    fn damaged_packed_text_is_an_error_not_a_panic() {
        let packed = Packed::of(&call());
        let compressed = BASE64.decode(&packed.as_str()[PREFIX.len()..]).unwrap();
        let cut = format!(
            "{PREFIX}{}",
            BASE64.encode(&compressed[..compressed.len() / 2])
        );
        assert!(matches!(
            unpack::<CallFields>(&cut),
            Err(UnpackError::Zstd(_))
        ));
        assert!(matches!(
            unpack::<CallFields>("z1:not base64!"),
            Err(UnpackError::Base64(_))
        ));
    }
}
