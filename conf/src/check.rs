//! The checks a row of the key table ([`crate::keys`]) names for its value:
//! a range (`range = 1..=500`) or a format check (`check = ip_address`).
//! Each looks at one key alone and returns the problem without the key's
//! name, which the table adds. Constraints between keys stay in
//! [`crate::Config::validate`].

use std::ops::{Bound, RangeBounds};

use crate::value::ByteSize;

/// A value a range can bound, written in messages the way an operator
/// writes it in a configuration file.
pub(crate) trait Limit: PartialOrd {
    /// The value as a range message shows it (`64kb`, `500`).
    fn limit_text(&self) -> String;
}

macro_rules! plain_limit {
    ($($t:ty),*) => {$(
        impl Limit for $t {
            fn limit_text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
plain_limit!(u16, u32, u64, usize, f64);

/// Sizes in the largest binary unit that divides them (`1kb`, `64kb`,
/// `1mb`), else in bytes (`256 bytes`).
impl Limit for ByteSize {
    fn limit_text(&self) -> String {
        let n = self.bytes();
        for (unit, size) in [("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] {
            if n != 0 && n % size == 0 {
                return format!("{}{unit}", n / size);
            }
        }
        format!("{n} bytes")
    }
}

/// The problem with `value` if it lies outside `range`: "must be between
/// 1 and 500, got 0", "must be at least 64kb, got 1000 bytes", "must be
/// greater than 0, got 0".
pub(crate) fn in_range<T: Limit, R: RangeBounds<T>>(range: &R, value: &T) -> Option<String> {
    if range.contains(value) {
        return None;
    }
    let expected = match (range.start_bound(), range.end_bound()) {
        (Bound::Included(lo), Bound::Included(hi)) => {
            format!("between {} and {}", lo.limit_text(), hi.limit_text())
        }
        (start, end) => {
            let lower = match start {
                Bound::Included(lo) => Some(format!("at least {}", lo.limit_text())),
                Bound::Excluded(lo) => Some(format!("greater than {}", lo.limit_text())),
                Bound::Unbounded => None,
            };
            let upper = match end {
                Bound::Included(hi) => Some(format!("at most {}", hi.limit_text())),
                Bound::Excluded(hi) => Some(format!("less than {}", hi.limit_text())),
                Bound::Unbounded => None,
            };
            lower
                .into_iter()
                .chain(upper)
                .collect::<Vec<_>>()
                .join(" and ")
        }
    };
    Some(format!("must be {expected}, got {}", value.limit_text()))
}

/// `bind`: at least one address.
pub(crate) fn some_address(addresses: &[String]) -> Option<String> {
    addresses
        .is_empty()
        .then(|| "at least one address is required".to_string())
}

/// A path or name that must be given.
pub(crate) fn not_empty(text: &str) -> Option<String> {
    text.is_empty().then(|| "must not be empty".to_string())
}

/// `client-output-buffer-limit`: `class hard soft seconds` groups.
pub(crate) fn output_buffer_limits(text: &str) -> Option<String> {
    crate::parse_output_limits(text)
        .err()
        .map(|e| format!("{e}: '{text}'"))
}

/// An IP address, or empty for "not set".
pub(crate) fn ip_address_or_empty(text: &str) -> Option<String> {
    (!text.is_empty() && text.parse::<std::net::IpAddr>().is_err())
        .then(|| format!("not an IP address: '{text}'"))
}

/// `seeds`: every entry is `host:port` with a port in 1..=65535; one
/// problem per bad entry.
pub(crate) fn host_ports(seeds: &[String]) -> Vec<String> {
    seeds
        .iter()
        .filter(|seed| {
            !seed
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0))
        })
        .map(|seed| format!("expected host:port, got {seed:?}"))
        .collect()
}

/// `read-consistency`: any level but ANY, which only a write can use.
pub(crate) fn read_level(level: &crate::value::Consistency) -> Option<String> {
    (*level == crate::value::Consistency::Any).then(|| "ANY applies to writes only".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Bound::{Excluded, Unbounded};

    #[test]
    fn range_messages_name_the_range_and_the_value() {
        assert_eq!(in_range(&(1..=500u32), &10), None);
        assert_eq!(
            in_range(&(1..=500u32), &0).as_deref(),
            Some("must be between 1 and 500, got 0")
        );
        assert_eq!(
            in_range(&(ByteSize::kib(64)..), &ByteSize(1000)).as_deref(),
            Some("must be at least 64kb, got 1000 bytes")
        );
        assert_eq!(
            in_range(&(ByteSize(256)..=ByteSize::mib(1)), &ByteSize::gib(2)).as_deref(),
            Some("must be between 256 bytes and 1mb, got 2gb")
        );
        assert_eq!(
            in_range(&(Excluded(0.0), Unbounded), &0.0).as_deref(),
            Some("must be greater than 0, got 0")
        );
        assert_eq!(in_range(&(Excluded(0.0), Unbounded), &0.5), None);
        assert_eq!(
            in_range(&(..10u64), &10).as_deref(),
            Some("must be less than 10, got 10")
        );
    }

    #[test]
    fn every_bad_seed_is_named() {
        let seeds = ["a:1", "b", ":2", "c:0", "d:70000"].map(String::from);
        assert_eq!(host_ports(&seeds).len(), 4);
        assert!(host_ports(&["[::1]:7000".to_string()]).is_empty());
    }
}
