//! Protocol errors, worded exactly as redis-server words them. After any of
//! these the server replies with the text and closes the connection.

/// A request that cannot be framed. `Display` gives Redis's exact reply text
/// (without the leading `-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline request longer than 64 KB without a newline.
    #[error("ERR Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline request whose quotes do not balance.
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*<count>` line longer than 64 KB.
    #[error("ERR Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `*<count>` that is not an integer, or is too large.
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// More than 10 arguments before authenticating.
    #[error("ERR Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A `$<len>` line longer than 64 KB.
    #[error("ERR Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An array element that does not start with `$`.
    #[error("ERR Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// A `$<len>` that is not an integer, negative, or above proto-max-bulk-len.
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A bulk longer than 16 KB before authenticating.
    #[error("ERR Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// A short name for metrics and logs (`errors by kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            ProtocolError::TooBigInlineRequest => "too_big_inline_request",
            ProtocolError::UnbalancedQuotes => "unbalanced_quotes",
            ProtocolError::TooBigMultibulkCount => "too_big_mbulk_count",
            ProtocolError::InvalidMultibulkLength => "invalid_multibulk_length",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated_multibulk_length",
            ProtocolError::TooBigBulkCount => "too_big_bulk_count",
            ProtocolError::ExpectedDollar(_) => "expected_dollar",
            ProtocolError::InvalidBulkLength => "invalid_bulk_length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated_bulk_length",
        }
    }
}
