//! The stored value (`Value`), and the internal form every layer passes
//! around (`InternalValue`): a put or a tombstone plus its timestamp field.

use bytes::Bytes;

/// A stored value: opaque bytes plus an absolute expiry (unix ms, 0 = never).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The payload, opaque to the engine.
    pub data: Bytes,
    /// Absolute expiry in unix milliseconds; 0 means the value never expires.
    pub expire_at_ms: u64,
}

impl Value {
    /// A value that never expires.
    pub fn new(data: impl Into<Bytes>) -> Self {
        Value {
            data: data.into(),
            expire_at_ms: 0,
        }
    }

    /// A value that expires at `expire_at_ms` (unix ms; 0 = never).
    pub fn with_expiry(data: impl Into<Bytes>, expire_at_ms: u64) -> Self {
        Value {
            data: data.into(),
            expire_at_ms,
        }
    }

    /// True when the value has an expiry and `now_ms` has reached it.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms != 0 && self.expire_at_ms <= now_ms
    }
}

/// Whether an internal entry is a put or a tombstone (stored as
/// `format::OP_PUT` / `format::OP_DELETE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A value.
    Put,
    /// A tombstone: hides every older version of the key.
    Delete,
}

/// One version of a key as the memtable, SSTables and iterators hold it.
/// `time_ms` is the expiry of a put (0 = never) or the write time of a
/// tombstone (for tombstone grace; for an expired value turned into a
/// tombstone, its expiry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InternalValue {
    pub(crate) kind: Kind,
    pub(crate) data: Bytes,
    pub(crate) time_ms: u64,
}

impl InternalValue {
    /// A put of `v`.
    pub(crate) fn put(v: Value) -> Self {
        InternalValue {
            kind: Kind::Put,
            data: v.data,
            time_ms: v.expire_at_ms,
        }
    }

    /// A tombstone written (or expired) at `time_ms`.
    pub(crate) fn tombstone(time_ms: u64) -> Self {
        InternalValue {
            kind: Kind::Delete,
            data: Bytes::new(),
            time_ms,
        }
    }

    /// True for an expiring put whose expiry has passed.
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.kind == Kind::Put && self.time_ms != 0 && self.time_ms <= now_ms
    }

    /// The user-visible value, or `None` for a tombstone or an expired put.
    pub(crate) fn visible(&self, now_ms: u64) -> Option<Value> {
        match self.kind {
            Kind::Put if !self.is_expired(now_ms) => Some(Value {
                data: self.data.clone(),
                expire_at_ms: self.time_ms,
            }),
            _ => None,
        }
    }
}
