//! Ring tokens and the engine key layout.
//!
//! Every user key maps to a 64-bit ring token: XXH3-64 of the key bytes with
//! a fixed seed. The function is specified and seeded by a constant, so the
//! token of a key is the same in every version, process and machine; a
//! change here would move every key and is a format change (see
//! `docs/formats/record.md`).
//!
//! Engine keys are `[namespace u32 BE][token u64 BE][user key]`: within a
//! database's namespace, keys are ordered by token, so a token range is one
//! contiguous engine range that can be scanned, hashed or streamed.

use bytes::{BufMut, Bytes, BytesMut};

/// Seed of the token hash. Never change it: it places every key on the ring.
pub const TOKEN_SEED: u64 = 0x7269_6e67_6b76_0001; // "ringkv" + 1

/// Bytes before the user key in an engine key.
pub const KEY_PREFIX_LEN: usize = 4 + 8;

/// The ring token of a user key.
pub fn token(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(key, TOKEN_SEED)
}

/// The engine key for `key` in namespace `ns`.
pub fn engine_key(ns: u32, key: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(KEY_PREFIX_LEN + key.len());
    out.put_u32(ns);
    out.put_u64(token(key));
    out.put_slice(key);
    out.freeze()
}

/// [`engine_key`] written into the start of `buf` rather than allocated;
/// `None` when `buf` is too short for it.
pub fn engine_key_in<'b>(ns: u32, key: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let out = buf.get_mut(..KEY_PREFIX_LEN.checked_add(key.len())?)?;
    let (prefix, user) = out.split_at_mut(KEY_PREFIX_LEN);
    prefix.copy_from_slice(&position(ns, token(key)));
    user.copy_from_slice(key);
    Some(out)
}

/// The first engine key of namespace `ns` at or after ring position `token`.
pub fn position(ns: u32, token: u64) -> [u8; KEY_PREFIX_LEN] {
    let mut out = [0u8; KEY_PREFIX_LEN];
    let (a, b) = out.split_at_mut(4);
    a.copy_from_slice(&ns.to_be_bytes());
    b.copy_from_slice(&token.to_be_bytes());
    out
}

/// The namespace prefix of `ns`; every engine key of the namespace starts with it.
pub fn namespace_prefix(ns: u32) -> [u8; 4] {
    ns.to_be_bytes()
}

/// Splits an engine key into (namespace, token, user key); `None` if it is
/// shorter than the prefix.
pub fn split_engine_key(key: &[u8]) -> Option<(u32, u64, &[u8])> {
    let (ns, rest) = key.split_first_chunk::<4>()?;
    let (tok, user) = rest.split_first_chunk::<8>()?;
    Some((u32::from_be_bytes(*ns), u64::from_be_bytes(*tok), user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_stable_across_versions() {
        // Pinned values: if one changes, every stored key has moved on the ring.
        assert_eq!(token(b""), 0x3130_6c31_60ac_3e35);
        assert_eq!(token(b"foo"), 0x60c7_4dd1_d94f_b9c4);
        assert_eq!(token(b"key:1"), 0x15b2_a31e_5cce_f12c);
    }

    #[test]
    fn engine_keys_split_back() {
        let k = engine_key(7, b"user:1");
        let (ns, tok, user) = split_engine_key(&k).unwrap();
        assert_eq!((ns, tok, user), (7, token(b"user:1"), &b"user:1"[..]));
        assert!(k.starts_with(&position(7, tok)));
        assert_eq!(split_engine_key(b"short"), None);
        let mut buf = [0u8; 18];
        assert_eq!(engine_key_in(7, b"user:1", &mut buf), Some(&k[..]));
        assert_eq!(
            engine_key_in(7, b"user:12", &mut buf),
            None,
            "one byte short"
        );
        assert_eq!(
            engine_key_in(7, b"", &mut buf),
            Some(&engine_key(7, b"")[..])
        );
    }
}
