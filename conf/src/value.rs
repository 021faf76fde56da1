//! Value types a configuration key can hold, and how each is parsed from
//! text (file, environment, flag, `CONFIG SET`) and rendered back
//! (`CONFIG GET`, the sample file). Parsing follows redis-server where the
//! two overlap: `yes`/`no` booleans, `1k` = 1000 bytes and `1kb` = 1024.

use std::fmt;

/// A value that can be read from and written back to configuration text.
pub trait ConfValue: Sized {
    /// Parses `text`; the error says what was expected (the caller adds the key name).
    fn parse_conf(text: &str) -> Result<Self, String>;
    /// Renders the value the way `CONFIG GET` shows it.
    fn render(&self) -> String;
    /// A short name of the accepted syntax, for `--help` and the sample file.
    fn syntax() -> &'static str;
}

macro_rules! int_value {
    ($($t:ty),*) => {$(
        impl ConfValue for $t {
            fn parse_conf(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse::<$t>()
                    .map_err(|_| format!("expected an integer in {}..={}, got {:?}", <$t>::MIN, <$t>::MAX, text))
            }
            fn render(&self) -> String {
                self.to_string()
            }
            fn syntax() -> &'static str {
                "integer"
            }
        }
    )*};
}
int_value!(u16, u32, u64, usize);

impl ConfValue for f64 {
    fn parse_conf(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("expected a number, got {text:?}")),
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
    fn syntax() -> &'static str {
        "number"
    }
}

impl ConfValue for bool {
    fn parse_conf(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" => Ok(true),
            "no" | "false" | "0" => Ok(false),
            _ => Err(format!("expected yes|no, got {text:?}")),
        }
    }
    fn render(&self) -> String {
        if *self { "yes" } else { "no" }.to_string()
    }
    fn syntax() -> &'static str {
        "yes|no"
    }
}

impl ConfValue for String {
    fn parse_conf(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn render(&self) -> String {
        self.clone()
    }
    fn syntax() -> &'static str {
        "string"
    }
}

/// A list of words, written space- or comma-separated (`bind 127.0.0.1 ::1`,
/// `seeds = "10.0.0.1:16379,10.0.0.2:16379"`) or as a TOML array.
impl ConfValue for Vec<String> {
    fn parse_conf(text: &str) -> Result<Self, String> {
        Ok(text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect())
    }
    fn render(&self) -> String {
        self.join(" ")
    }
    fn syntax() -> &'static str {
        "list"
    }
}

/// A size in bytes. Accepts redis-server's unit suffixes: `k`/`m`/`g` are
/// powers of 1000, `kb`/`mb`/`gb` powers of 1024 (case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// `n` kibibytes.
    pub const fn kib(n: u64) -> Self {
        ByteSize(n * 1024)
    }
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }
    /// `n` gibibytes.
    pub const fn gib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024 * 1024)
    }
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
    /// The size in bytes as `usize`, saturating on 32-bit targets.
    pub fn bytes_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl ConfValue for ByteSize {
    fn parse_conf(text: &str) -> Result<Self, String> {
        let t = text.trim().to_ascii_lowercase();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let mult: u64 = match unit.trim() {
            "" | "b" => 1,
            "k" => 1000,
            "kb" => 1024,
            "m" => 1000 * 1000,
            "mb" => 1024 * 1024,
            "g" => 1000 * 1000 * 1000,
            "gb" => 1024 * 1024 * 1024,
            _ => return Err(format!("expected a size such as 512mb, got {text:?}")),
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .map(ByteSize)
            .ok_or_else(|| format!("expected a size such as 512mb, got {text:?}"))
    }
    fn render(&self) -> String {
        self.0.to_string()
    }
    fn syntax() -> &'static str {
        "size (e.g. 64mb)"
    }
}

/// Declares a configuration enum with its textual names, in one place.
macro_rules! conf_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every accepted name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            /// Every value, in declaration order (the order of [`Self::NAMES`]).
            pub const ALL: &'static [Self] = &[$($name::$variant),+];
            /// The configuration name of this value.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ConfValue for $name {
            fn parse_conf(text: &str) -> Result<Self, String> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("expected {}, got {:?}", Self::NAMES.join("|"), text)),
                }
            }
            fn render(&self) -> String {
                self.as_str().to_string()
            }
            fn syntax() -> &'static str {
                concat!($($text, " "),+).trim_ascii_end()
            }
        }
    };
}

conf_enum!(
    /// When the write-ahead log is fsynced (redis-server's `appendfsync`).
    FsyncPolicy {
        /// Every write is fsynced before it is acknowledged (group commit shares one fsync).
        Always = "always",
        /// Written to the OS before the reply, fsynced once a second: a process crash
        /// loses nothing, a power loss at most about one second.
        EverySec = "everysec",
        /// Written to the OS before the reply, fsync left to the OS.
        No = "no",
    }
);

conf_enum!(
    /// The LSM compaction strategy.
    CompactionStrategy {
        /// Leveled: few sorted runs, low read and space amplification.
        Leveled = "leveled",
        /// Size-tiered: runs of similar size merged together, low write amplification.
        SizeTiered = "size-tiered",
    }
);

conf_enum!(
    /// A consistency level: how many of a key's N replicas must answer.
    Consistency {
        /// One replica (reads and writes).
        One = "one",
        /// Two replicas.
        Two = "two",
        /// Three replicas.
        Three = "three",
        /// A majority: N/2 + 1 replicas.
        Quorum = "quorum",
        /// Every replica of the key.
        All = "all",
        /// Writes only: one acknowledgement from any node, a hint included.
        Any = "any",
    }
);

impl Consistency {
    /// Replicas that must answer out of `n`; at least 1, at most `n`
    /// (ANY counts as 1).
    pub fn required(self, n: usize) -> usize {
        let want = match self {
            Consistency::One | Consistency::Any => 1,
            Consistency::Two => 2,
            Consistency::Three => 3,
            Consistency::Quorum => n / 2 + 1,
            Consistency::All => n,
        };
        want.clamp(1, n.max(1))
    }

    /// The level's name as commands print it (`QUORUM`).
    pub fn upper(self) -> String {
        self.as_str().to_ascii_uppercase()
    }
}

conf_enum!(
    /// Log verbosity, with redis-server's names.
    LogLevel {
        /// Everything, including per-request tracing.
        Debug = "debug",
        /// Informational messages.
        Verbose = "verbose",
        /// Notable events (default).
        Notice = "notice",
        /// Only warnings and errors.
        Warning = "warning",
        /// Nothing.
        Nothing = "nothing",
    }
);

conf_enum!(
    /// Who may run a protected command such as DEBUG (redis-server 7's
    /// `enable-debug-command`).
    ProtectedAction {
        /// Nobody: the command is refused.
        No = "no",
        /// Every client.
        Yes = "yes",
        /// Clients connected from a loopback address only.
        Local = "local",
    }
);

impl ProtectedAction {
    /// Whether a client connected from `peer` may run the command.
    pub fn allows(self, peer: std::net::IpAddr) -> bool {
        match self {
            ProtectedAction::No => false,
            ProtectedAction::Yes => true,
            ProtectedAction::Local => crate::net::is_loopback(peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_follow_redis_units() {
        assert_eq!(ByteSize::parse_conf("1k").unwrap().0, 1000);
        assert_eq!(ByteSize::parse_conf("1kb").unwrap().0, 1024);
        assert_eq!(ByteSize::parse_conf("512MB").unwrap().0, 512 << 20);
        assert_eq!(ByteSize::parse_conf("7").unwrap().0, 7);
        assert!(ByteSize::parse_conf("12xb").is_err());
        assert!(ByteSize::parse_conf("").is_err());
        assert!(ByteSize::parse_conf("99999999999999999999gb").is_err());
    }

    #[test]
    fn enums_name_every_choice_in_errors() {
        let err = CompactionStrategy::parse_conf("lvl").unwrap_err();
        assert_eq!(err, "expected leveled|size-tiered, got \"lvl\"");
        assert_eq!(
            CompactionStrategy::parse_conf("Size-Tiered").unwrap(),
            CompactionStrategy::SizeTiered
        );
        assert_eq!(FsyncPolicy::syntax(), "always everysec no");
    }

    #[test]
    fn protected_actions_follow_redis() {
        let local: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let mapped: std::net::IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let remote: std::net::IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(ProtectedAction::syntax(), "no yes local");
        for ip in [local, mapped, remote] {
            assert!(!ProtectedAction::No.allows(ip));
            assert!(ProtectedAction::Yes.allows(ip));
        }
        assert!(ProtectedAction::Local.allows(local));
        assert!(ProtectedAction::Local.allows(mapped));
        assert!(ProtectedAction::Local.allows("::1".parse().unwrap()));
        assert!(!ProtectedAction::Local.allows(remote));
    }

    #[test]
    fn lists_accept_commas_and_spaces() {
        let v = Vec::<String>::parse_conf("a:1, b:2 c:3").unwrap();
        assert_eq!(v, ["a:1", "b:2", "c:3"]);
    }
}
