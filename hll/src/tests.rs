//! Fixtures are what redis-server 7.0.15 returned for the same commands
//! (`GET` of the key, in hex, or FNV-1a 64 of the bytes for dense values).

use super::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fnv(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// PFADD as the command does it: create if missing, add each, mark the
/// cache stale when anything changed.
fn pfadd(value: &mut Option<Vec<u8>>, elements: &[&[u8]]) -> bool {
    let mut changed = value.is_none();
    let v = value.get_or_insert_with(new_sparse);
    for e in elements {
        changed |= add(v, e, DEFAULT_SPARSE_MAX_BYTES).expect("valid");
    }
    if changed {
        invalidate_cache(v);
    }
    changed
}

/// PFCOUNT of one key, writing the cache back as Redis does.
fn pfcount(value: &mut [u8]) -> u64 {
    let n = count(value).expect("valid");
    set_cached_count(value, n);
    n
}

#[test]
fn small_values_are_byte_for_byte_redis() {
    let mut e = None;
    assert!(pfadd(&mut e, &[]));
    assert_eq!(
        hex(e.as_deref().unwrap()),
        "48594c4c0100000000000000000000807fff"
    );
    let mut k = None;
    assert!(pfadd(&mut k, &[b"a", b"b", b"c"]));
    let v = k.as_mut().unwrap();
    assert_eq!(
        hex(v),
        "48594c4c01000000000000000000008060f38050b1844bfb80425a"
    );
    assert_eq!(pfcount(v), 3);
    assert_eq!(
        hex(v),
        "48594c4c01000000030000000000000060f38050b1844bfb80425a"
    );
    assert!(!pfadd(&mut k, &[b"a"]));
    assert!(pfadd(&mut k, &[b"d"]));
    assert_eq!(
        hex(k.as_deref().unwrap()),
        "48594c4c0100000003000000000000805c7b8044768050b1844bfb80425a"
    );
}

#[test]
fn growing_values_match_redis_through_the_dense_switch() {
    // (elements, length, encoding, fnv before PFCOUNT, count, fnv after)
    let cases: [(usize, usize, u8, u64, u64, u64); 4] = [
        (100, 289, 1, 0x184f75b6da991433, 100, 0xa521bddb7ddeb587),
        (1000, 1892, 1, 0x007d6275b67df980, 999, 0x5037165bdd54d0fa),
        (5000, 12304, 0, 0x6fb8e866361bbd85, 4959, 0x7c74678fbb78dab7),
        (
            20000,
            12304,
            0,
            0xd9163e3810fea1e1,
            20030,
            0x8bc7ef4c318280bd,
        ),
    ];
    for (n, len, encoding, before, card, after) in cases {
        let mut m = None;
        let names: Vec<String> = (0..n).map(|j| format!("el:{j}")).collect();
        for chunk in names.chunks(100) {
            let refs: Vec<&[u8]> = chunk.iter().map(|s| s.as_bytes()).collect();
            pfadd(&mut m, &refs);
        }
        let v = m.as_mut().unwrap();
        assert_eq!(
            (v.len(), v[4], fnv(v)),
            (len, encoding, before),
            "{n} elements"
        );
        assert_eq!(pfcount(v), card, "{n} elements");
        assert_eq!(fnv(v), after, "{n} elements");
    }
}

#[test]
fn merges_match_redis() {
    let set = |prefix: &str| {
        let mut v = None;
        let names: Vec<String> = (0..50).map(|j| format!("{prefix}{j}")).collect();
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        pfadd(&mut v, &refs);
        v.unwrap()
    };
    let (x, y) = (set("x"), set("y"));
    // PFMERGE z x y with z missing: z is created sparse, then raised.
    let mut max = vec![0u8; REGISTERS];
    union_registers(&mut max, &x).unwrap();
    union_registers(&mut max, &y).unwrap();
    assert_eq!(estimate(&max), 100);
    let mut z = new_sparse();
    merge_into(&mut z, &max, false, DEFAULT_SPARSE_MAX_BYTES).unwrap();
    assert_eq!(
        hex(&z),
        "48594c4c010000000000000000000080388042198040a780406c80069440928841e78026844047801480416d8440a58040fb904088801e801a8440618026843c84416e84407588414384410980409d8440ebb4308811901a80308840dd800484078440df841888419680108c40468840e680188040ec803280405088404a88419c801c804090801184407480417584405984258441088c40b1841584410680119041478c41888841bd8040a9882088405d80248040fe8441628442a998417f8c404584416980338040c38041c180409f88409d884129803e8024842d88407b9441dd84406d80009840e180298c40f78c4108842a844135844118804081800c8440dc8423802b8440d4a433843f80338040458809884061"
    );
    // PFCOUNT z (caches 100), then PFMERGE z d with d dense: z turns
    // dense first, keeping the header.
    assert_eq!(pfcount(&mut z), 100);
    let mut d = None;
    let names: Vec<String> = (0..5000).map(|j| format!("el:{j}")).collect();
    let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
    pfadd(&mut d, &refs);
    let d = d.unwrap();
    assert!(is_dense(&d));
    let mut max = registers(&z).unwrap();
    union_registers(&mut max, &d).unwrap();
    merge_into(&mut z, &max, true, DEFAULT_SPARSE_MAX_BYTES).unwrap();
    assert_eq!((z.len(), fnv(&z)), (12304, 0xb44c8c75986d4578));
    assert_eq!(count(&z), Ok(5059));
}

#[test]
fn hostile_bytes_are_refused_not_panicked_on() {
    assert_eq!(check(b"hello"), Err(Invalid::NotHll));
    assert_eq!(check(b"HYLL\x00 short dense!"), Err(Invalid::NotHll));
    assert_eq!(
        check(b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),
        Err(Invalid::NotHll)
    );
    // Redis: PFCOUNT answers a fresh cache (0) without walking; PFADD finds the damage.
    let mut bad = b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01".to_vec();
    assert_eq!(count(&bad), Ok(0));
    assert_eq!(
        add(&mut bad, b"a", DEFAULT_SPARSE_MAX_BYTES),
        Err(Invalid::Corrupt)
    );
    assert_eq!(registers(&bad), Err(Invalid::Corrupt));
    // Every truncation and every single-byte value of a real sparse value.
    let mut v = Some(new_sparse());
    pfadd(&mut v, &[b"a", b"b", b"c", b"d"]);
    let v = v.unwrap();
    for cut in 0..v.len() {
        let mut t = v[..cut].to_vec();
        let _ = count(&t);
        let _ = add(&mut t, b"z", DEFAULT_SPARSE_MAX_BYTES);
    }
    for at in HEADER_SIZE..v.len() {
        for b in 0..=255u8 {
            let mut t = v.clone();
            t[at] = b;
            let _ = count(&t);
            let _ = registers(&t);
            let _ = add(&mut t, b"z", DEFAULT_SPARSE_MAX_BYTES);
        }
    }
}

#[test]
fn union_is_a_semilattice() {
    let make = |names: &[&str]| {
        let mut v = None;
        let refs: Vec<&[u8]> = names.iter().map(|s| s.as_bytes()).collect();
        pfadd(&mut v, &refs);
        registers(&v.unwrap()).unwrap()
    };
    let a = make(&["1", "2", "3"]);
    let b = make(&["3", "4"]);
    let join =
        |x: &[u8], y: &[u8]| -> Vec<u8> { x.iter().zip(y).map(|(p, q)| *p.max(q)).collect() };
    assert_eq!(join(&a, &b), join(&b, &a));
    assert_eq!(join(&a, &a), a);
    let both = make(&["1", "2", "3", "4"]);
    assert_eq!(join(&a, &b), both);
    assert_eq!(registers(&dense_from_registers(&both)).unwrap(), both);
}
