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

/// The command name and first argument of each whole multibulk request
/// at the start of `buf`, in order, up to `most` requests: a server that
/// holds a pipelined batch starts loading all its keys at once. Requests
/// of one argument are passed over and give nothing; the walk ends at the
/// first request not wholly in `buf` or not understood (an inline
/// command, anything malformed, a name or first argument over 1 KB).
pub fn peek_requests(buf: &[u8], most: usize) -> PeekRequests<'_> {
    PeekRequests { rest: buf, most }
}

/// The iterator [`peek_requests`] returns.
pub struct PeekRequests<'a> {
    rest: &'a [u8],
    most: usize,
}

impl<'a> Iterator for PeekRequests<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.most > 0 {
            self.most -= 1;
            let (count, mut rest) = number_line(self.rest.strip_prefix(b"*")?)?;
            let mut first_two = [&b""[..]; 2];
            for i in 0..count {
                let (bytes, after) = if i < 2 {
                    bulk(rest)?
                } else {
                    bulk_of_any_length(rest)?
                };
                if let Some(slot) = first_two.get_mut(i) {
                    *slot = bytes;
                }
                rest = after;
            }
            self.rest = rest;
            if count >= 2 {
                return Some((first_two[0], first_two[1]));
            }
        }
        None
    }
}

/// One `$<len>\r\n<bytes>\r\n` bulk string of at most
/// [`PEEK_BULK_MAX`] bytes and what follows it.
fn bulk(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    bulk_of_any_length(buf).filter(|(bytes, _)| bytes.len() <= PEEK_BULK_MAX)
}

/// As [`bulk`], of any length `buf` wholly holds: an argument passed over.
fn bulk_of_any_length(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = buf.strip_prefix(b"$")?;
    let (len, rest) = number_line(rest)?;
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

    proptest! {
        /// Whatever a client sends (requests, possibly with a byte changed,
        /// the end cut anywhere), every request the walk shows is one the
        /// decoder then reads, in order, with that name and first argument.
        #[test]
        fn a_walk_agrees_with_the_decoder(
            requests in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..4),
                0..6,
            ),
            flip in any::<(usize, u8)>(),
            cut in any::<usize>(),
        ) {
            let mut bytes: Vec<u8> = requests.iter().flat_map(|r| multibulk(r)).collect();
            if let Some(len) = std::num::NonZeroUsize::new(bytes.len()) {
                if let Some(b) = bytes.get_mut(flip.0 % len.get()) {
                    *b = flip.1;
                }
                bytes.truncate(cut % (len.get() + 1));
            }
            let seen: Vec<(Vec<u8>, Vec<u8>)> = peek_requests(&bytes, usize::MAX)
                .map(|(n, k)| (n.to_vec(), k.to_vec()))
                .collect();
            let mut decoded = Vec::new();
            let mut buf = BytesMut::from(&bytes[..]);
            let mut decoder = RequestDecoder::new();
            while let Ok(Some(request)) = decoder.decode(&mut buf, &Limits::default()) {
                if let [name, key, ..] = &request.args[..] {
                    decoded.push((name.to_vec(), key.to_vec()));
                }
            }
            prop_assert_eq!(Some(&seen[..]), decoded.get(..seen.len()));
        }
    }

    #[test]
    fn a_walk_passes_over_short_requests_and_stops_at_the_first_partial_one() {
        let buf = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2000\r\n";
        let mut whole = buf.to_vec();
        whole.extend_from_slice(&[b'v'; 2000]);
        whole.extend_from_slice(b"\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\n");
        let seen: Vec<_> = peek_requests(&whole, 10).collect();
        assert_eq!(seen, [(&b"SET"[..], &b"a"[..]), (&b"GET"[..], &b"b"[..])]);
        assert_eq!(
            peek_requests(&whole, 2).count(),
            1,
            "PING counts toward the limit"
        );
        assert_eq!(
            peek_requests(buf, 10).count(),
            0,
            "the SET's value is still to come"
        );
        assert_eq!(peek_requests(b"GET a\r\n", 10).count(), 0);
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
