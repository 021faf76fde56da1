//! Address facts that configuration checks and every listener share: which
//! peers protected mode treats as this machine.

use std::net::IpAddr;

/// Whether `ip` is a loopback address: `127.0.0.0/8`, `::1`, or an
/// IPv4-mapped loopback address (`::ffff:127.x.y.z`, how a dual-stack
/// socket reports an IPv4 loopback peer). Protected mode admits these
/// peers on the client port without a password and on the cluster port
/// without a `cluster-secret`.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether the `bind` address `addr` is a loopback address; `false` for
/// anything that does not parse as an IP address (`0.0.0.0`, `::`, `*` and
/// host names all reach beyond this machine or cannot be told apart).
pub fn is_loopback_bind(addr: &str) -> bool {
    addr.trim().parse::<IpAddr>().is_ok_and(is_loopback)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_covers_ipv4_ipv6_and_mapped_addresses() {
        for ip in ["127.0.0.1", "127.3.2.1", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip} is loopback");
        }
        for ip in [
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
            "::",
            "192.168.1.7",
            "::2",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip} is not loopback");
        }
        assert!(is_loopback_bind("127.0.0.2"));
        assert!(!is_loopback_bind("0.0.0.0"));
        assert!(!is_loopback_bind("*"));
        assert!(!is_loopback_bind("localhost"));
    }
}
