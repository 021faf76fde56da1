//! The table's bloom filter over user keys (`docs/formats/sstable.md` §2,
//! "filter"): `filter := bits (0x80 | k):u8`, cache-local: one 64-bit hash
//! picks a 64-byte block and `k` bits in it, so a lookup touches one cache
//! line (a filter probed with seven bits spread over megabytes took seven
//! cache misses per key present). Filters of the earlier layout (`k:u8`,
//! probes spread by double hashing over the whole filter) are still read.
//! The hash (`key_hash`) is part of the format. With 10 bits per key and
//! k = 6 the false-positive rate is about 1%.

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

/// The top bit of a filter's last byte: set, the filter is cache-local
/// (every probe of a key in one 64-byte block; the low bits are `k`); clear,
/// it is the earlier layout whose probes spread over the whole filter (the
/// byte is `k`). Files of both layouts are read.
const CACHE_LOCAL: u8 = 0x80;

/// Bits in one cache-local block: a 64-byte cache line.
const BLOCK_BITS: u64 = 512;

/// Builds a cache-local filter for `hashes` with `bits_per_key` bits each:
/// `bits[64 * blocks] (0x80 | k):u8`. Returns an empty vector (no filter:
/// every key "may match") when `bits_per_key` is 0.
pub(crate) fn build(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 {
        return Vec::new();
    }
    let k = probes(bits_per_key);
    let blocks = (hashes.len() as u64 * u64::from(bits_per_key))
        .div_ceil(BLOCK_BITS)
        .max(1);
    let mut out = vec![0u8; (blocks * BLOCK_BITS / 8) as usize + 1];
    for &h in hashes {
        let base = block_of(h, blocks);
        for bit in block_probes(h, k) {
            if let Some(b) = out.get_mut(base + (bit / 8) as usize) {
                *b |= 1 << (bit % 8);
            }
        }
    }
    if let Some(last) = out.last_mut() {
        *last = CACHE_LOCAL | k as u8;
    }
    out
}

/// Probes per key: `bits_per_key * ln 2`, clamped to [1, 30].
fn probes(bits_per_key: u32) -> u32 {
    ((f64::from(bits_per_key) * 0.69) as u32).clamp(1, 30)
}

/// The byte offset of the block `h` probes, among `blocks`: the high 32
/// bits scaled to the block count.
fn block_of(h: u64, blocks: u64) -> usize {
    (((h >> 32) * blocks) >> 32) as usize * (BLOCK_BITS / 8) as usize
}

/// The `k` bit positions (0-511) `h` probes in its block: the top 9 bits of
/// `x`, then of `x * 0x9E3779B9`, and so on, `x` the low 32 bits of `h`.
fn block_probes(h: u64, k: u32) -> impl Iterator<Item = u32> {
    let mut x = h as u32;
    (0..k).map(move |_| {
        let bit = x >> 23;
        x = x.wrapping_mul(0x9E37_79B9);
        bit
    })
}

/// False when `hash`'s key is certainly absent. An empty or malformed filter
/// (unknown k) answers true: it can only cost a block read, never hide a key.
pub(crate) fn may_contain(filter: &[u8], hash: u64) -> bool {
    let Some((&last, bits)) = filter.split_last() else {
        return true;
    };
    let k = u32::from(last & !CACHE_LOCAL);
    if bits.is_empty() || k == 0 || k > 30 {
        return true;
    }
    if last & CACHE_LOCAL == 0 {
        return may_contain_spread(bits, k, hash);
    }
    let blocks = bits.len() as u64 / (BLOCK_BITS / 8);
    if blocks == 0 || bits.len() as u64 % (BLOCK_BITS / 8) != 0 {
        return true;
    }
    let Some(block) = bits.get(block_of(hash, blocks)..) else {
        return true;
    };
    block_probes(hash, k).all(|bit| {
        block
            .get((bit / 8) as usize)
            .is_some_and(|b| b & (1 << (bit % 8)) != 0)
    })
}

/// The earlier layout: probe `i` tests bit `(x + i * delta) mod m` of the
/// whole filter, `x` the low 32 bits of `hash`, `delta` the high ones | 1.
fn may_contain_spread(bits: &[u8], k: u32, hash: u64) -> bool {
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        answers_like_a_filter(build);
    }

    /// A filter `build` makes for 10,000 keys holds every one of them and
    /// lets through fewer than 2.5% of others.
    fn answers_like_a_filter(build: fn(&[u64], u32) -> Vec<u8>) {
        let hashes: Vec<u64> = (0..10_000u32)
            .map(|i| key_hash(format!("key-{i}").as_bytes()))
            .collect();
        let f = build(&hashes, 10);
        assert!(hashes.iter().all(|&h| may_contain(&f, h)));
        let fp = (0..10_000u32)
            .filter(|i| may_contain(&f, key_hash(format!("other-{i}").as_bytes())))
            .count();
        assert!(fp < 250, "false positives {fp} / 10000");
    }

    /// A filter in the earlier layout, as files written before the
    /// cache-local one hold it.
    fn build_spread(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
        let k = probes(bits_per_key);
        let bytes = (hashes.len() * bits_per_key as usize).max(64).div_ceil(8);
        let m = (bytes * 8) as u64;
        let mut out = vec![0u8; bytes + 1];
        for &h in hashes {
            let (mut x, delta) = (h & 0xffff_ffff, (h >> 32) | 1);
            for _ in 0..k {
                let bit = x % m;
                out[(bit / 8) as usize] |= 1 << (bit % 8);
                x = x.wrapping_add(delta);
            }
        }
        *out.last_mut().unwrap() = k as u8;
        out
    }

    #[test]
    fn filters_of_the_earlier_layout_still_answer() {
        answers_like_a_filter(build_spread);
    }

    #[test]
    fn a_key_probes_one_cache_line() {
        let hashes: Vec<u64> = (0..1_000u32)
            .map(|i| key_hash(format!("key-{i}").as_bytes()))
            .collect();
        let f = build(&hashes, 10);
        assert_eq!(f.len() % 64, 1);
        assert_eq!(*f.last().unwrap(), 0x80 | 6);
        let one = build(&hashes[..1], 10);
        let set: Vec<usize> = (0..one.len() - 1).filter(|&i| one[i] != 0).collect();
        assert!(set.iter().all(|&i| i / 64 == set[0] / 64), "{set:?}");
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
