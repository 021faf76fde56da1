//! Redis's encoding thresholds (`hash-max-listpack-entries` and the rest),
//! which `CONFIG GET` and `CONFIG SET` accept by their Redis names, old
//! `ziplist` aliases included.
//!
//! ringkv stores every collection the same way (`docs/data-types.md`), so
//! these limits change nothing but what OBJECT ENCODING (and DEBUG OBJECT)
//! report: the encoding Redis would give the value under the same
//! settings. Tools and test suites that tune them to force an encoding
//! then see the one they expect. They are per node, not persisted, and
//! not part of the configuration file.

use std::sync::atomic::{AtomicI64, Ordering};

/// One threshold: its Redis name, an older alias, its default and the
/// values it accepts.
struct Limit {
    name: &'static str,
    alias: Option<&'static str>,
    default: i64,
    min: i64,
    max: i64,
}

/// Which threshold, as an index into [`LIMITS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Threshold {
    /// Most fields of a listpack hash.
    HashEntries,
    /// Longest field or value of a listpack hash.
    HashValue,
    /// Most members of an intset.
    SetIntsetEntries,
    /// Most members of a listpack set.
    SetEntries,
    /// Longest member of a listpack set.
    SetValue,
    /// Most members of a listpack sorted set.
    ZSetEntries,
    /// Longest member of a listpack sorted set.
    ZSetValue,
    /// A listpack list's limit: entries if positive, else -1..-5 for
    /// 4, 8, 16, 32 or 64 kB.
    ListSize,
    /// Accepted, no effect (lists are not compressed quicklists).
    ListCompressDepth,
}

const LIMITS: [Limit; 9] = [
    limit(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        512,
    ),
    limit(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        64,
    ),
    limit("set-max-intset-entries", None, 512),
    limit("set-max-listpack-entries", None, 128),
    limit("set-max-listpack-value", None, 64),
    limit(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        128,
    ),
    limit(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        64,
    ),
    Limit {
        name: "list-max-listpack-size",
        alias: Some("list-max-ziplist-size"),
        default: -2,
        min: i32::MIN as i64,
        max: i32::MAX as i64,
    },
    limit("list-compress-depth", None, 0),
];

const fn limit(name: &'static str, alias: Option<&'static str>, default: i64) -> Limit {
    Limit {
        name,
        alias,
        default,
        min: 0,
        max: i64::MAX,
    }
}

/// The current thresholds of this node.
pub struct EncodingLimits {
    values: [AtomicI64; LIMITS.len()],
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            values: LIMITS.map(|l| AtomicI64::new(l.default)),
        }
    }
}

impl EncodingLimits {
    /// The current value of `t`.
    pub fn get(&self, t: Threshold) -> i64 {
        self.values[t as usize].load(Ordering::Relaxed)
    }

    /// `t` as a count or a length (a negative value counts as 0).
    pub fn size(&self, t: Threshold) -> usize {
        usize::try_from(self.get(t)).unwrap_or(0)
    }

    /// Every name `CONFIG GET` lists (aliases included) with its value.
    pub fn all(&self) -> Vec<(&'static str, String)> {
        LIMITS
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                let v = self.values[i].load(Ordering::Relaxed).to_string();
                std::iter::once((l.name, v.clone())).chain(l.alias.map(|a| (a, v)))
            })
            .collect()
    }

    /// The threshold `name` (or its alias) and the value `text` parsed for
    /// it, checked: `Ok(None)` when `name` is not one of these.
    pub fn parse(name: &str, text: &str) -> Result<Option<(usize, i64)>, String> {
        let Some(i) = LIMITS.iter().position(|l| {
            l.name.eq_ignore_ascii_case(name)
                || l.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
        }) else {
            return Ok(None);
        };
        let l = &LIMITS[i];
        let v: i64 = text
            .trim()
            .parse()
            .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
        if v < l.min || v > l.max {
            return Err(format!(
                "argument must be between {} and {} inclusive",
                l.min, l.max
            ));
        }
        Ok(Some((i, v)))
    }

    /// Stores a value [`EncodingLimits::parse`] accepted.
    pub fn store(&self, (i, v): (usize, i64)) {
        if let Some(slot) = self.values.get(i) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    /// The most bytes a listpack list may hold under `list-max-listpack-size`
    /// (for a negative setting), or `None` when the setting counts entries.
    pub fn list_bytes(&self) -> Option<usize> {
        match self.get(Threshold::ListSize) {
            n if n >= 0 => None,
            n => Some(match n {
                -1 => 4 * 1024,
                -2 => 8 * 1024,
                -3 => 16 * 1024,
                -4 => 32 * 1024,
                _ => 64 * 1024,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_ranges() {
        let limits = EncodingLimits::default();
        assert_eq!(limits.get(Threshold::HashEntries), 512);
        let parsed = EncodingLimits::parse("HASH-MAX-ZIPLIST-ENTRIES", "10").unwrap();
        limits.store(parsed.unwrap());
        assert_eq!(limits.get(Threshold::HashEntries), 10);
        let all = limits.all();
        assert!(all.contains(&("hash-max-listpack-entries", "10".to_string())));
        assert!(all.contains(&("hash-max-ziplist-entries", "10".to_string())));
        assert_eq!(EncodingLimits::parse("maxmemory", "1"), Ok(None));
        assert!(EncodingLimits::parse("set-max-intset-entries", "-1").is_err());
        assert!(EncodingLimits::parse("set-max-intset-entries", "x").is_err());
        limits.store(
            EncodingLimits::parse("list-max-ziplist-size", "-5")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(limits.list_bytes(), Some(64 * 1024));
        limits.store(
            EncodingLimits::parse("list-max-listpack-size", "4")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(limits.list_bytes(), None);
    }
}
