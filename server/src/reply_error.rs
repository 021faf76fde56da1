//! Every error a command can answer, and every message text, in Redis's
//! exact wording. The variant decides the prefix (`ERR`, `WRONGTYPE`, ...)
//! in one place; our own prefixes are listed in `docs/commands.md`.

use std::borrow::Cow;

use ringkv_resp::Reply;

/// Texts used by more than one command, worded as redis-server words them.
pub mod text {
    /// Any malformed option list.
    pub const SYNTAX: &str = "syntax error";
    /// An argument that should be a 64-bit integer.
    pub const NOT_INTEGER: &str = "value is not an integer or out of range";
    /// An argument or stored value that should be a float.
    pub const NOT_FLOAT: &str = "value is not a valid float";
    /// INCR family overflow.
    pub const OVERFLOW: &str = "increment or decrement would overflow";
    /// INCRBYFLOAT producing NaN or infinity.
    pub const NAN_OR_INF: &str = "increment would produce NaN or Infinity";
    /// A string growing past proto-max-bulk-len.
    pub const TOO_BIG: &str = "string exceeds maximum allowed size (proto-max-bulk-len)";
    /// RENAME of a missing key.
    pub const NO_SUCH_KEY: &str = "no such key";
    /// SELECT/MOVE/COPY DB outside 0..databases.
    pub const DB_RANGE: &str = "DB index is out of range";
    /// SCAN with a non-numeric cursor.
    pub const INVALID_CURSOR: &str = "invalid cursor";
    /// A count beyond what a command accepts (HRANDFIELD, SRANDMEMBER).
    pub const OUT_OF_RANGE: &str = "value is out of range";
    /// SETRANGE/GETRANGE offsets.
    pub const OFFSET_RANGE: &str = "offset is out of range";
    /// SETBIT/GETBIT/BITPOS offsets.
    pub const BIT_OFFSET: &str = "bit offset is not an integer or out of range";
    /// A timeout or count that must be positive.
    pub const NOT_POSITIVE: &str = "value is out of range, must be positive";
    /// AUTH when no password is configured.
    pub const AUTH_NOT_CONFIGURED: &str = "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
    /// MULTI inside MULTI.
    pub const MULTI_NESTED: &str = "MULTI calls can not be nested";
    /// EXEC outside MULTI.
    pub const EXEC_WITHOUT_MULTI: &str = "EXEC without MULTI";
    /// DISCARD outside MULTI.
    pub const DISCARD_WITHOUT_MULTI: &str = "DISCARD without MULTI";
    /// WATCH inside MULTI.
    pub const WATCH_IN_MULTI: &str = "WATCH inside MULTI is not allowed";
    /// Both a MOVE/COPY source and destination in the same database.
    pub const SAME_OBJECT: &str = "source and destination objects are the same";
    /// Reply when a client is over `maxclients`.
    pub const MAX_CLIENTS: &str = "max number of clients reached";
    /// DEBUG when `enable-debug-command` does not allow this client.
    pub const DEBUG_NOT_ALLOWED: &str = "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
}

/// An error reply. Converts into a [`Reply::Error`] with the right prefix.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyError {
    /// `-ERR <text>`.
    Err(Cow<'static, str>),
    /// `-WRONGTYPE Operation against a key holding the wrong kind of value`.
    WrongType,
    /// `-NOAUTH Authentication required.`
    NoAuth,
    /// `-WRONGPASS invalid username-password pair or user is disabled.`
    WrongPass,
    /// `-EXECABORT Transaction discarded because of previous errors.`
    ExecAbort,
    /// `-NOPROTO unsupported protocol version`.
    NoProto,
    /// `-MISCONF ...`: the disk refused a write (WAL or flush); writes are
    /// refused until it takes writes again.
    Misconf(String),
    /// `-NOQUORUM needed <required> replicas, <answered> answered`: fewer
    /// replicas answered than the consistency level needs.
    NoQuorum {
        /// Replicas the level needs.
        required: usize,
        /// Replicas that answered in time.
        answered: usize,
    },
    /// Any other prefix with its own text, e.g. HELLO's longer `NOAUTH`.
    Prefixed {
        /// The prefix word, e.g. `NOAUTH`.
        prefix: &'static str,
        /// The text after it.
        text: Cow<'static, str>,
    },
}

/// What every command handler returns.
pub type CmdResult = Result<Reply, ReplyError>;

impl ReplyError {
    /// An `ERR` error with static text.
    pub const fn err(text: &'static str) -> Self {
        ReplyError::Err(Cow::Borrowed(text))
    }

    /// `ERR syntax error`.
    pub const fn syntax() -> Self {
        ReplyError::err(text::SYNTAX)
    }

    /// `ERR value is not an integer or out of range`.
    pub const fn not_integer() -> Self {
        ReplyError::err(text::NOT_INTEGER)
    }

    /// Redis's reply to a subcommand of `container` it does not know or
    /// got the wrong number of arguments for.
    pub fn subcommand_syntax(container: &str, sub: &[u8]) -> Self {
        ReplyError::Err(
            format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
                lossy(sub, 128)
            )
            .into(),
        )
    }

    /// `ERR wrong number of arguments for '<name>' command`.
    pub fn arity(fullname: &str) -> Self {
        ReplyError::Err(format!("wrong number of arguments for '{fullname}' command").into())
    }

    /// `ERR invalid expire time in '<name>' command`.
    pub fn invalid_expire(fullname: &str) -> Self {
        ReplyError::Err(format!("invalid expire time in '{fullname}' command").into())
    }

    /// `ERR unknown command '<name>', with args beginning with: '<a>' '<b>' `,
    /// built exactly like Redis: at most ~128 characters of arguments.
    pub fn unknown_command(args: &[bytes::Bytes]) -> Self {
        let name = args.first().map(|a| lossy(a, 128)).unwrap_or_default();
        let mut list = String::new();
        for a in args.iter().skip(1) {
            if list.len() >= 128 {
                break;
            }
            let room = 128 - list.len();
            list.push('\'');
            list.push_str(&lossy(a, room));
            list.push_str("' ");
        }
        ReplyError::Err(
            format!("unknown command '{name}', with args beginning with: {list}").into(),
        )
    }

    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
    pub fn unknown_subcommand(command: &str, sub: &[u8]) -> Self {
        ReplyError::Err(
            format!(
                "unknown subcommand '{}'. Try {} HELP.",
                lossy(sub, 128),
                command.to_ascii_uppercase()
            )
            .into(),
        )
    }

    /// The prefix word this error is sent with.
    pub fn prefix(&self) -> &str {
        match self {
            ReplyError::Err(_) => "ERR",
            ReplyError::WrongType => "WRONGTYPE",
            ReplyError::NoAuth => "NOAUTH",
            ReplyError::WrongPass => "WRONGPASS",
            ReplyError::ExecAbort => "EXECABORT",
            ReplyError::NoProto => "NOPROTO",
            ReplyError::Misconf(_) => "MISCONF",
            ReplyError::NoQuorum { .. } => "NOQUORUM",
            ReplyError::Prefixed { prefix, .. } => prefix,
        }
    }

    /// The full reply text, prefix included.
    pub fn text(&self) -> Cow<'static, str> {
        match self {
            ReplyError::Err(t) => format!("ERR {t}").into(),
            ReplyError::WrongType => {
                "WRONGTYPE Operation against a key holding the wrong kind of value".into()
            }
            ReplyError::NoAuth => "NOAUTH Authentication required.".into(),
            ReplyError::WrongPass => {
                "WRONGPASS invalid username-password pair or user is disabled.".into()
            }
            ReplyError::ExecAbort => {
                "EXECABORT Transaction discarded because of previous errors.".into()
            }
            ReplyError::NoProto => "NOPROTO unsupported protocol version".into(),
            ReplyError::Misconf(detail) => {
                format!("MISCONF Errors writing to disk: {detail}").into()
            }
            ReplyError::NoQuorum { required, answered } => {
                format!("NOQUORUM needed {required} replicas, {answered} answered").into()
            }
            ReplyError::Prefixed { prefix, text } => format!("{prefix} {text}").into(),
        }
    }

    /// The reply sent to the client.
    pub fn into_reply(self) -> Reply {
        Reply::Error(self.text())
    }
}

impl From<ringkv_cluster::Error> for ReplyError {
    fn from(e: ringkv_cluster::Error) -> Self {
        use ringkv_cluster::Error as E;
        // Every variant is named: a new one must choose its prefix here.
        match e {
            E::DbOutOfRange { .. } => ReplyError::err(text::DB_RANGE),
            E::NoQuorum { required, answered } => ReplyError::NoQuorum { required, answered },
            E::NotApplied(t) => ReplyError::Err(t.into()),
            E::WrongType => ReplyError::WrongType,
            e @ E::NotHll => ReplyError::Prefixed {
                prefix: "WRONGTYPE",
                text: e.to_string().into(),
            },
            e @ E::CorruptHll => ReplyError::Prefixed {
                prefix: "INVALIDOBJ",
                text: e.to_string().into(),
            },
            E::Engine(engine) => engine_error(engine),
            e @ (E::BadContext(_)
            | E::Refused(_)
            | E::Sync(_)
            | E::Port(_)
            | E::Seeds(_)
            | E::Peer { .. }
            | E::BadReply { .. }) => ReplyError::Err(e.to_string().into()),
            e @ (E::Rebuilding
            | E::CorruptRecord { .. }
            | E::CorruptNamespaces { .. }
            | E::DatabasesLowered { .. }
            | E::CorruptNodeState { .. }
            | E::Task { .. }) => {
                tracing::error!(error = %e, "command failed in the storage layer");
                ReplyError::Err(format!("storage error: {e}").into())
            }
        }
    }
}

fn engine_error(e: ringkv_engine::Error) -> ReplyError {
    // A failing disk (WAL or flush): say so the way Redis reports a failing
    // AOF, so operators and clients recognise it. The engine logs the cause
    // once; writes resume by themselves once the disk takes writes again.
    if e.is_write_failure() || matches!(e, ringkv_engine::Error::Background(_)) {
        return ReplyError::Misconf(e.to_string());
    }
    tracing::error!(error = %e, "storage engine error");
    ReplyError::Err(format!("storage error: {e}").into())
}

/// At most `max` characters of `bytes`, lossily decoded, for error texts.
pub fn lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(bytes).chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn unknown_command_text_matches_redis() {
        let args = [
            Bytes::from_static(b"foo"),
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
        ];
        assert_eq!(
            ReplyError::unknown_command(&args).text(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            ReplyError::unknown_command(&args[..1]).text(),
            "ERR unknown command 'foo', with args beginning with: "
        );
    }

    #[test]
    fn prefixes_come_from_the_variant() {
        assert_eq!(ReplyError::WrongType.prefix(), "WRONGTYPE");
        let e = ReplyError::from(ringkv_cluster::Error::NoQuorum {
            required: 3,
            answered: 2,
        });
        assert_eq!(e.prefix(), "NOQUORUM");
        assert_eq!(e.text(), "NOQUORUM needed 3 replicas, 2 answered");
        assert_eq!(
            ReplyError::arity("get").text(),
            "ERR wrong number of arguments for 'get' command"
        );
    }
}
