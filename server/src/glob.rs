//! Redis glob patterns (KEYS, SCAN MATCH, CONFIG GET, COMMAND LIST).
//!
//! Same syntax as redis-server's `stringmatchlen`: `*` any run, `?` any one
//! byte, `[abc]`, `[^abc]`, `[a-z]` classes (an unterminated class ends at
//! the pattern's end), and `\x` for a literal `x`. Matching uses the
//! two-pointer star backtracking algorithm, O(pattern × text) in the worst
//! case, so no pattern can make the server spin exponentially.

/// One pattern element that matches exactly one byte, or a star.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Byte(u8),
    Class { negate: bool, items: Vec<(u8, u8)> },
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    nocase: bool,
    /// The pattern is exactly `*`, which KEYS and the SCAN family take as
    /// "every key" without matching (so also the empty key, which no
    /// pattern but the empty one matches).
    every_key: bool,
}

impl Glob {
    /// Compiles `pattern`; `nocase` folds ASCII case as Redis's nocase flag.
    pub fn new(pattern: &[u8], nocase: bool) -> Glob {
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = pattern.get(i) {
            match c {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'[' => {
                    i += 1;
                    let negate = pattern.get(i) == Some(&b'^');
                    if negate {
                        i += 1;
                    }
                    let mut items = Vec::new();
                    while let Some(&c) = pattern.get(i) {
                        if c == b']' {
                            break;
                        }
                        if c == b'\\' && i + 1 < pattern.len() {
                            i += 1;
                            let lit = pattern.get(i).copied().unwrap_or(b'\\');
                            items.push((lit, lit));
                        } else if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() {
                            let (a, b) = (c, pattern.get(i + 2).copied().unwrap_or(c));
                            items.push((a.min(b), a.max(b)));
                            i += 2;
                        } else {
                            items.push((c, c));
                        }
                        i += 1;
                    }
                    tokens.push(Token::Class { negate, items });
                }
                b'\\' if i + 1 < pattern.len() => {
                    i += 1;
                    tokens.push(Token::Byte(pattern.get(i).copied().unwrap_or(b'\\')));
                }
                other => tokens.push(Token::Byte(other)),
            }
            i += 1;
        }
        Glob {
            tokens,
            nocase,
            every_key: pattern == b"*",
        }
    }

    /// Whether a key, field or member matches, as KEYS and SCAN (MATCH)
    /// select them: the pattern `*` takes everything, any other pattern
    /// must match ([`Glob::matches`]).
    pub fn selects(&self, key: &[u8]) -> bool {
        self.every_key || self.matches(key)
    }

    fn eq(&self, a: u8, b: u8) -> bool {
        if self.nocase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }

    fn one(&self, t: &Token, c: u8) -> bool {
        match t {
            Token::Star => true,
            Token::Any => true,
            Token::Byte(b) => self.eq(*b, c),
            Token::Class { negate, items } => {
                let lc = if self.nocase {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                let hit = items.iter().any(|&(lo, hi)| {
                    if self.nocase {
                        (lo.to_ascii_lowercase()..=hi.to_ascii_lowercase()).contains(&lc)
                    } else {
                        (lo..=hi).contains(&c)
                    }
                });
                hit != *negate
            }
        }
    }

    /// Whether `text` matches the whole pattern. As in Redis's
    /// `stringmatchlen`, an empty text matches only the empty pattern (not
    /// `*`: PSUBSCRIBE * hears no PUBLISH to the empty channel).
    pub fn matches(&self, text: &[u8]) -> bool {
        if text.is_empty() {
            return self.tokens.is_empty();
        }
        let (mut p, mut t) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match (self.tokens.get(p), text.get(t)) {
                (Some(Token::Star), _) => {
                    star = Some((p, t));
                    p += 1;
                }
                (Some(tok), Some(&c)) if self.one(tok, c) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens
            .get(p..)
            .unwrap_or_default()
            .iter()
            .all(|t| *t == Token::Star)
    }
}

/// One-shot match of `pattern` against `text`.
pub fn glob_match(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    Glob::new(pattern, nocase).matches(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn redis_glob_semantics() {
        // Redis's stringmatchlen: an empty text matches only an empty
        // pattern; KEYS and SCAN take the pattern `*` as every key.
        assert!(!m("*", ""));
        assert!(!m("**", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(Glob::new(b"*", false).selects(b""));
        assert!(!Glob::new(b"**", false).selects(b""));
        assert!(Glob::new(b"a*", false).selects(b"ab"));
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "reversed ranges are swapped");
        assert!(m("key:1*", "key:1"));
        assert!(m("key:1*", "key:123"));
        assert!(!m("key:1*", "key:2"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!m("*a*b*c*", "xxaxxcxxbxx"));
        assert!(m("[abc", "a"), "unterminated class ends at the pattern end");
        assert!(glob_match(b"MAXCLIENTS", b"maxclients", true));
        assert!(glob_match(b"max*", b"MAXCLIENTS", true));
    }

    #[test]
    fn pathological_patterns_finish() {
        let pat = "*a".repeat(50) + "b";
        let text = "a".repeat(5000);
        assert!(!m(&pat, &text));
    }
}
