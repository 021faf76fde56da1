//! A point read's shortcut for a string of one plain value
//! (`codec::peek_plain_value`, used by `scanned_entry`) answers what the
//! whole record's live entry is, whatever the record.

use bytes::Bytes;
use proptest::prelude::*;

use crate::version::codec;
use crate::version::siblings::Sibling;
use crate::version::tests::{arb_clock, arb_siblings};
use crate::version::{History, MemberHistories, Payload, Siblings};

/// What a point read of the stored `bytes` answers at `now_ms` is the
/// live entry of the whole record, or an error if the record is corrupt.
fn point_read_agrees(bytes: &Bytes, now_ms: u64) -> Result<(), TestCaseError> {
    let stored = ringkv_engine::Value::new(bytes.clone());
    let read = super::scanned_entry(&stored, b"k", || now_ms);
    match Siblings::decode_shared(bytes, 0) {
        Ok(whole) => prop_assert_eq!(read.ok(), Some(super::live_entry(&whole, now_ms))),
        Err(_) => prop_assert!(read.is_err()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A point read takes a shortcut for a record of one plain value
    /// (`codec::peek_plain_value`); whatever the record, it answers what
    /// the whole record's live entry is.
    #[test]
    fn a_point_read_answers_what_the_whole_record_holds(
        sibs in arb_siblings(), now_ms in 0u64..3, flip in any::<(u16, u8)>(),
    ) {
        let encoded = sibs.encode();
        let mut damaged = encoded.to_vec();
        if let Some(b) = damaged.get_mut(usize::from(flip.0) % encoded.len().max(1)) {
            *b ^= flip.1;
        }
        for bytes in [encoded, Bytes::from(damaged)] {
            point_read_agrees(&bytes, now_ms)?;
        }
    }

    /// The same for the shape the shortcut takes, around its expiry.
    #[test]
    fn a_point_read_of_one_value_answers_its_expiry(
        clock in arb_clock(), ts_ms in 0u64..4, expire_at_ms in 0u64..4, now_ms in 0u64..4,
    ) {
        let one = Siblings::from_iter([Sibling {
            clock,
            ts_ms,
            expire_at_ms,
            payload: Payload::Value(Bytes::from_static(b"v")),
            history: History::new(),
            member_histories: MemberHistories::new(),
        }]);
        let bytes = one.encode();
        prop_assert!(codec::peek_plain_value(&bytes).is_some());
        point_read_agrees(&bytes, now_ms)?;
    }
}
