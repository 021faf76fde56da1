//! A look at the next request in a buffer without decoding it: its
//! command name and first argument, for a server that wants to start
//! loading that argument's key while it serves the request before.
//!
//! Nothing here validates or consumes input: a buffer this does not
//! understand (inline commands, a request not wholly read yet, anything
//! malformed) gives `None`, and the decoder deals with it as it always
//! does.

/// Longest length a peeked bulk string may announce; a longer one is not
/// looked at (a key worth prefetching is short).
const PEEK_BULK_MAX: usize = 1024;

/// The command name and first argument of the multibulk request at the
/// start of `buf`, when both are wholly in it and well formed; `None`
/// otherwise, or for a request of fewer than two arguments.
pub fn peek_name_and_first_arg(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = buf.strip_prefix(b"*")?;
    let (count, rest) = number_line(rest)?;
    if count < 2 {
        return None;
    }
    let (name, rest) = bulk(rest)?;
    let (arg, _) = bulk(rest)?;
    Some((name, arg))
}

/// One `$<len>\r\n<bytes>\r\n` bulk string and what follows it.
fn bulk(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = buf.strip_prefix(b"$")?;
    let (len, rest) = number_line(rest)?;
    if len > PEEK_BULK_MAX {
        return None;
    }
    let (bytes, rest) = rest.split_at_checked(len)?;
    Some((bytes, rest.strip_prefix(b"\r\n")?))
}

/// A decimal count of at most 9 digits ending in `\r\n`, and what follows.
fn number_line(buf: &[u8]) -> Option<(usize, &[u8])> {
    let end = buf.iter().take(11).position(|&b| b == b'\r')?;
    let (digits, rest) = buf.split_at_checked(end)?;
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
    Some((n, rest.strip_prefix(b"\r\n")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{Limits, RequestDecoder};
    use crate::tests::multibulk;
    use bytes::BytesMut;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a client sends (here: requests with a byte changed and
        /// the end cut anywhere, and noise), a peek answers only what the
        /// decoder then reads as that request's name and first argument.
        #[test]
        fn a_peek_agrees_with_the_decoder(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..4),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
            noise in proptest::collection::vec(any::<u8>(), 0..24),
            noisy in any::<bool>(),
        ) {
            let mut bytes = if noisy { noise } else { multibulk(&args) };
            if let Some(len) = std::num::NonZeroUsize::new(bytes.len()) {
                if let Some(b) = bytes.get_mut(flip.0 % len.get()) {
                    *b = flip.1;
                }
                bytes.truncate(cut % (len.get() + 1));
            }
            let seen = peek_name_and_first_arg(&bytes).map(|(n, k)| (n.to_vec(), k.to_vec()));
            let mut buf = BytesMut::from(&bytes[..]);
            if let (Some(seen), Ok(Some(request))) =
                (seen, RequestDecoder::new().decode(&mut buf, &Limits::default()))
            {
                prop_assert_eq!(Some(&seen.0[..]), request.args.first().map(|a| &a[..]));
                prop_assert_eq!(Some(&seen.1[..]), request.args.get(1).map(|a| &a[..]));
            }
        }

        /// A whole request of two arguments or more shows its first two,
        /// whatever follows it in the buffer.
        #[test]
        fn a_whole_request_is_always_seen(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..5),
            tail in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut buf = multibulk(&args);
            buf.extend_from_slice(&tail);
            let expected = match &args[..] {
                [name, key, ..] => Some((&name[..], &key[..])),
                _ => None,
            };
            prop_assert_eq!(peek_name_and_first_arg(&buf), expected);
        }
    }

    #[test]
    fn a_whole_request_shows_its_name_and_first_argument() {
        let buf = b"*3\r\n$3\r\nSET\r\n$5\r\nuser1\r\n$1\r\nx\r\n*2\r\n$3\r\nGET\r\n";
        assert_eq!(
            peek_name_and_first_arg(buf),
            Some((&b"SET"[..], &b"user1"[..]))
        );
        // The first argument complete, the rest still to come.
        assert_eq!(
            peek_name_and_first_arg(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nab"),
            Some((&b"SET"[..], &b"k"[..]))
        );
        assert_eq!(
            peek_name_and_first_arg(b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n"),
            Some((&b"GET"[..], &b""[..]))
        );
    }

    #[test]
    fn anything_partial_malformed_or_too_long_shows_nothing() {
        for buf in [
            &b""[..],
            b"*2\r\n$3\r\nGET\r\n$5\r\nuse",
            b"*2\r\n$3\r\nGET\r\n$5\r\nuser1",
            b"*2\r\n$3\r\nGET\r\n$5\r\nuser1\r",
            b"*1\r\n$4\r\nPING\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"GET user1\r\n",
            b"*2\r\n$3\r\nGET\r\n$-1\r\n",
            b"*2\r\n$3\r\nGET\r\n$+5\r\nuser1\r\n",
            b"*2\r\n$3\r\nGET\r\n$5\r\nuser1XY",
            b"*2\r\n$3\r\nGETX\r\n$5\r\nuser1\r\n",
            b"*99999999999\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            b"*2\r\n$3\r\nGET\r\n$1025\r\n",
            b"*2\n$3\r\nGET\r\n$1\r\nk\r\n",
        ] {
            assert_eq!(peek_name_and_first_arg(buf), None, "{buf:?}");
        }
        let long = [
            b"*2\r\n$3\r\nGET\r\n$2000\r\n".as_slice(),
            &[b'k'; 2000],
            b"\r\n",
        ]
        .concat();
        assert_eq!(peek_name_and_first_arg(&long), None);
    }

    #[test]
    fn every_prefix_of_a_request_is_read_safely() {
        let buf = b"*3\r\n$3\r\nSET\r\n$5\r\nuser1\r\n$1\r\nx\r\n";
        for end in 0..=buf.len() {
            let seen = peek_name_and_first_arg(buf.get(..end).unwrap_or_default());
            assert!(seen.is_none() || seen == Some((&b"SET"[..], &b"user1"[..])));
        }
    }
}
