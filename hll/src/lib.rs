//! HyperLogLog in Redis's own representation, so a value written here reads
//! back in Redis and the other way round (`docs/data-types.md`,
//! HyperLogLog; the layout in `docs/formats/record.md`).
//!
//! A value is a string: a 16-byte header (`HYLL`, the encoding, three
//! unused bytes, the cached cardinality as 8 little-endian bytes whose top
//! bit marks it stale) and 16384 six-bit registers, stored either dense
//! (12288 bytes) or sparse (run-length opcodes `ZERO`, `XZERO`, `VAL`).
//! Elements are hashed with MurmurHash64A (seed `0xadc83b19`): the low 14
//! bits pick the register, the run of zeros after them is its candidate
//! value. Every operation that changes a value follows Redis 7.0's
//! algorithm step by step, so the bytes agree with Redis's, not only the
//! counts.
//!
//! Merging two values keeps, per register, the larger: commutative,
//! associative and idempotent, which is what lets replicas that saw
//! different PFADDs converge ([`union_registers`]).
//!
//! Nothing here panics on hostile bytes: a value is checked
//! ([`check`]) before use and every walk over sparse opcodes is bounded.

/// Registers: 2^14.
pub const REGISTERS: usize = 1 << P;
const P: u32 = 14;
const Q: u32 = 64 - P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Header bytes before the registers.
pub const HEADER_SIZE: usize = 16;
/// Length of a dense value.
pub const DENSE_SIZE: usize = HEADER_SIZE + (REGISTERS * BITS).div_ceil(8);
const ENCODING_DENSE: u8 = 0;
const ENCODING_SPARSE: u8 = 1;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
const MURMUR_SEED: u64 = 0xadc8_3b19;
/// Redis's default `hll-sparse-max-bytes`: a sparse value that would grow
/// past it becomes dense.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

/// Why bytes are not a usable HyperLogLog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    /// Not a HyperLogLog at all (Redis: `WRONGTYPE Key is not a valid
    /// HyperLogLog string value.`).
    NotHll,
    /// The header says HyperLogLog but the registers do not add up
    /// (Redis: `INVALIDOBJ Corrupted HLL object detected`).
    Corrupt,
    /// The key holds another type than a string (a hash, a set...):
    /// Redis's plain `WRONGTYPE Operation against a key holding the wrong
    /// kind of value`, which it answers before looking at the bytes.
    WrongType,
}

/// Whether `bytes` pass Redis's check of a HyperLogLog value: magic,
/// a known encoding, and the exact length when dense. (A damaged sparse
/// body is found when it is walked, as in Redis.)
///
/// # Errors
/// [`Invalid::NotHll`] when they do not.
pub fn check(bytes: &[u8]) -> Result<(), Invalid> {
    if bytes.len() < HEADER_SIZE || &bytes[..4] != b"HYLL" {
        return Err(Invalid::NotHll);
    }
    match bytes[4] {
        ENCODING_DENSE if bytes.len() == DENSE_SIZE => Ok(()),
        ENCODING_SPARSE => Ok(()),
        _ => Err(Invalid::NotHll),
    }
}

/// Whether a checked value is dense.
pub fn is_dense(bytes: &[u8]) -> bool {
    bytes.get(4) == Some(&ENCODING_DENSE)
}

/// An empty value as PFADD creates it: sparse, every register zero (one
/// `XZERO` opcode), cached cardinality 0.
pub fn new_sparse() -> Vec<u8> {
    let mut v = header(ENCODING_SPARSE);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        push_xzero(&mut v, run);
        left -= run;
    }
    v
}

fn header(encoding: u8) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER_SIZE + 2);
    v.extend_from_slice(b"HYLL");
    v.push(encoding);
    v.extend_from_slice(&[0; 11]);
    v
}

/// Marks the cached cardinality stale (Redis's `HLL_INVALIDATE_CACHE`: the
/// top bit of its last byte; the other bytes stay).
pub fn invalidate_cache(value: &mut [u8]) {
    if let Some(b) = value.get_mut(15) {
        *b |= 0x80;
    }
}

/// The cached cardinality, if the header holds a fresh one.
pub fn cached_count(value: &[u8]) -> Option<u64> {
    let card: [u8; 8] = value.get(8..16)?.try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

/// Stores `count` as the cached cardinality (what Redis's PFCOUNT writes).
pub fn set_cached_count(value: &mut [u8], count: u64) {
    if let Some(card) = value.get_mut(8..16) {
        card.copy_from_slice(&count.to_le_bytes());
    }
}

/// Redis's MurmurHash64A (little-endian reads, as on the machines Redis runs on).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut k = u64::from_le_bytes(word);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the value it offers it.
fn register_and_rank(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, MURMUR_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(registers: &[u8], index: usize) -> u8 {
    let byte = index * BITS / 8;
    let fb = (index * BITS) & 7;
    let b0 = u16::from(registers.get(byte).copied().unwrap_or(0));
    let b1 = u16::from(registers.get(byte + 1).copied().unwrap_or(0));
    (((b0 | (b1 << 8)) >> fb) as u8) & REGISTER_MAX
}

fn dense_set(registers: &mut [u8], index: usize, value: u8) {
    let byte = index * BITS / 8;
    let fb = (index * BITS) & 7;
    let v = u16::from(value & REGISTER_MAX) << fb;
    let mask = u16::from(REGISTER_MAX) << fb;
    if let Some(b) = registers.get_mut(byte) {
        *b = (*b & !(mask as u8)) | v as u8;
    }
    if let Some(b) = registers.get_mut(byte + 1) {
        *b = (*b & !((mask >> 8) as u8)) | (v >> 8) as u8;
    }
}

/// One sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `run` registers at zero (ZERO when `run` <= 64 and one byte, else XZERO).
    Zero { run: usize, wide: bool },
    /// `run` (1..=4) registers at `value` (1..=32).
    Val { value: u8, run: usize },
}

impl Op {
    fn read(body: &[u8], at: usize) -> Option<Op> {
        let b = *body.get(at)?;
        Some(match b & 0xc0 {
            0x00 => Op::Zero {
                run: usize::from(b & 0x3f) + 1,
                wide: false,
            },
            0x40 => Op::Zero {
                run: ((usize::from(b & 0x3f) << 8) | usize::from(*body.get(at + 1)?)) + 1,
                wide: true,
            },
            _ => Op::Val {
                value: ((b >> 2) & 0x1f) + 1,
                run: usize::from(b & 0x3) + 1,
            },
        })
    }

    fn len(self) -> usize {
        match self {
            Op::Zero { wide: true, .. } => 2,
            _ => 1,
        }
    }

    fn run(self) -> usize {
        match self {
            Op::Zero { run, .. } | Op::Val { run, .. } => run,
        }
    }
}

fn push_xzero(out: &mut Vec<u8>, run: usize) {
    let l = run - 1;
    out.push(((l >> 8) as u8) | 0x40);
    out.push((l & 0xff) as u8);
}

fn push_zero_run(out: &mut Vec<u8>, run: usize) {
    if run > SPARSE_ZERO_MAX_LEN {
        push_xzero(out, run);
    } else {
        out.push((run - 1) as u8);
    }
}

fn val_byte(value: u8, run: usize) -> u8 {
    0x80 | ((value - 1) << 2) | ((run - 1) as u8)
}

/// Every register of a sparse body, or `None` if the opcodes do not cover
/// exactly [`REGISTERS`].
fn sparse_registers(body: &[u8]) -> Option<Vec<u8>> {
    let mut regs = vec![0u8; REGISTERS];
    let mut idx = 0usize;
    let mut at = 0usize;
    while at < body.len() {
        let op = Op::read(body, at)?;
        let run = op.run();
        if idx + run > REGISTERS {
            return None;
        }
        if let Op::Val { value, .. } = op {
            regs[idx..idx + run].fill(value);
        }
        idx += run;
        at += op.len();
    }
    (idx == REGISTERS).then_some(regs)
}

/// The registers of a checked value, one byte each.
///
/// # Errors
/// [`Invalid::NotHll`] for bytes [`check`] refuses, [`Invalid::Corrupt`]
/// for a sparse body that does not cover every register exactly.
pub fn registers(value: &[u8]) -> Result<Vec<u8>, Invalid> {
    check(value)?;
    let body = &value[HEADER_SIZE..];
    if is_dense(value) {
        Ok((0..REGISTERS).map(|i| dense_get(body, i)).collect())
    } else {
        sparse_registers(body).ok_or(Invalid::Corrupt)
    }
}

/// Raises each register of `max` to the value's where the value's is
/// larger (Redis's `hllMerge`).
///
/// # Errors
/// As [`registers`].
pub fn union_registers(max: &mut [u8], value: &[u8]) -> Result<(), Invalid> {
    let regs = registers(value)?;
    for (m, r) in max.iter_mut().zip(regs) {
        *m = (*m).max(r);
    }
    Ok(())
}

/// The estimate for a set of registers (Redis 7's estimator, after Ertl,
/// "New cardinality estimation algorithms for HyperLogLog sketches").
pub fn estimate(registers: &[u8]) -> u64 {
    let mut histogram = [0u32; 64];
    for &r in registers {
        histogram[usize::from(r & 63)] += 1;
    }
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(histogram[q + 1])) / m);
    for j in (1..=q).rev() {
        z += f64::from(histogram[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histogram[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

/// The cardinality of one value (PFCOUNT of one key): the cached one if
/// fresh, else computed.
///
/// # Errors
/// As [`registers`].
pub fn count(value: &[u8]) -> Result<u64, Invalid> {
    check(value)?;
    // As Redis: a fresh cache answers without walking the registers.
    if let Some(n) = cached_count(value) {
        return Ok(n);
    }
    Ok(estimate(&registers(value)?))
}

/// A sparse value rewritten dense (Redis's `hllSparseToDense`; the header,
/// cached cardinality included, is kept).
///
/// # Errors
/// As [`registers`].
pub fn to_dense(value: &[u8]) -> Result<Vec<u8>, Invalid> {
    let regs = registers(value)?;
    if is_dense(value) {
        return Ok(value.to_vec());
    }
    let mut out = vec![0u8; DENSE_SIZE];
    out[..HEADER_SIZE].copy_from_slice(&value[..HEADER_SIZE]);
    out[4] = ENCODING_DENSE;
    let body = &mut out[HEADER_SIZE..];
    for (i, &r) in regs.iter().enumerate() {
        if r != 0 {
            dense_set(body, i, r);
        }
    }
    Ok(out)
}

/// A dense value holding `registers`, cached cardinality stale.
pub fn dense_from_registers(registers: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; DENSE_SIZE];
    out[..4].copy_from_slice(b"HYLL");
    out[4] = ENCODING_DENSE;
    for (i, &r) in registers.iter().enumerate().take(REGISTERS) {
        if r != 0 {
            dense_set(&mut out[HEADER_SIZE..], i, r.min(REGISTER_MAX));
        }
    }
    invalidate_cache(&mut out);
    out
}

/// Raises register `index` to `rank` if lower, keeping Redis's
/// representation: returns whether it changed. A sparse value becomes
/// dense when `rank` does not fit a VAL opcode or the value would pass
/// `sparse_max_bytes` (Redis's `hllSparseSet`, step for step). The
/// cached cardinality is not touched.
///
/// # Errors
/// [`Invalid::Corrupt`] for a damaged sparse body; `value` is then unchanged.
fn set_register(
    value: &mut Vec<u8>,
    index: usize,
    rank: u8,
    sparse_max_bytes: usize,
) -> Result<bool, Invalid> {
    if is_dense(value) {
        let body = &mut value[HEADER_SIZE..];
        if dense_get(body, index) >= rank {
            return Ok(false);
        }
        dense_set(body, index, rank);
        return Ok(true);
    }
    if rank > SPARSE_VAL_MAX_VALUE {
        return promote(value, index, rank);
    }
    // Step 1: the opcode covering `index`, the one before it, and the first
    // register it covers.
    let end = value.len();
    let mut at = HEADER_SIZE;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut found = None;
    while at < end {
        let op = Op::read(value, at).ok_or(Invalid::Corrupt)?;
        if index < first + op.run() {
            found = Some(op);
            break;
        }
        prev = Some(at);
        first += op.run();
        at += op.len();
    }
    let Some(op) = found else {
        return Err(Invalid::Corrupt);
    };
    let last = first + op.run() - 1;
    // Step 2: the trivial cases, in place.
    match op {
        Op::Val { value: old, .. } if old >= rank => return Ok(false),
        Op::Val { run: 1, .. }
        | Op::Zero {
            run: 1,
            wide: false,
        } => {
            value[at] = val_byte(rank, 1);
            merge_adjacent(value, prev.unwrap_or(HEADER_SIZE));
            return Ok(true);
        }
        _ => {}
    }
    // The general case: split the opcode around `index`.
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Zero { .. } => {
            if index != first {
                push_zero_run(&mut seq, index - first);
            }
            seq.push(val_byte(rank, 1));
            if index != last {
                push_zero_run(&mut seq, last - index);
            }
        }
        Op::Val { value: old, .. } => {
            if index != first {
                seq.push(val_byte(old, index - first));
            }
            seq.push(val_byte(rank, 1));
            if index != last {
                seq.push(val_byte(old, last - index));
            }
        }
    }
    // Step 3: replace it, unless that grows the value past the limit.
    let old_len = op.len();
    if seq.len() > old_len && value.len() + seq.len() - old_len > sparse_max_bytes {
        return promote(value, index, rank);
    }
    value.splice(at..at + old_len, seq);
    merge_adjacent(value, prev.unwrap_or(HEADER_SIZE));
    Ok(true)
}

/// Step 4 of Redis's sparse update: from the opcode before the change,
/// join up to five adjacent VAL opcodes of equal value that fit one.
fn merge_adjacent(value: &mut Vec<u8>, from: usize) {
    let mut at = from;
    let mut scan = 5;
    while at < value.len() && scan > 0 {
        scan -= 1;
        let Some(op) = Op::read(value, at) else {
            return;
        };
        let Op::Val { value: v1, run: r1 } = op else {
            at += op.len();
            continue;
        };
        if let Some(Op::Val { value: v2, run: r2 }) = Op::read(value, at + 1) {
            if v1 == v2 && r1 + r2 <= SPARSE_VAL_MAX_LEN {
                value[at + 1] = val_byte(v1, r1 + r2);
                value.remove(at);
                continue;
            }
        }
        at += 1;
    }
}

fn promote(value: &mut Vec<u8>, index: usize, rank: u8) -> Result<bool, Invalid> {
    let mut dense = to_dense(value)?;
    dense_set(&mut dense[HEADER_SIZE..], index, rank);
    *value = dense;
    Ok(true)
}

/// PFADD of `element` to a checked value: returns whether a register
/// changed (the caller then marks the cache stale, as Redis does once per
/// PFADD).
///
/// # Errors
/// [`Invalid::Corrupt`] for a damaged sparse body.
pub fn add(value: &mut Vec<u8>, element: &[u8], sparse_max_bytes: usize) -> Result<bool, Invalid> {
    let (index, rank) = register_and_rank(element);
    set_register(value, index, rank, sparse_max_bytes)
}

/// PFMERGE into a checked destination: the destination becomes dense if
/// `dense` (some input was dense), then every non-zero register of `max`
/// is raised into it, and its cache is marked stale (Redis's
/// `pfmergeCommand` after it has read the inputs).
///
/// # Errors
/// [`Invalid::Corrupt`] for a damaged sparse destination.
pub fn merge_into(
    dest: &mut Vec<u8>,
    max: &[u8],
    dense: bool,
    sparse_max_bytes: usize,
) -> Result<(), Invalid> {
    if dense && !is_dense(dest) {
        *dest = to_dense(dest)?;
    }
    for (i, &r) in max.iter().enumerate().take(REGISTERS) {
        if r != 0 {
            set_register(dest, i, r, sparse_max_bytes)?;
        }
    }
    invalidate_cache(dest);
    Ok(())
}

#[cfg(test)]
mod tests;
