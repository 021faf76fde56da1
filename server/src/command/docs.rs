//! `COMMAND INFO` and `COMMAND DOCS` replies, built from the table.
//!
//! Each row's `syntax` string (e.g. `key value [condition=NX | XX]`) is
//! parsed into Redis's argument tree — name, type, token, flags, nested
//! arguments — which redis-cli turns into its inline hints.

use ringkv_resp::Reply;

use super::table::{COMMANDS, CommandSpec, Group, KeyPositions, flag};

/// One documented argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgDoc {
    /// Argument name.
    pub name: String,
    /// Redis type: key, string, integer, double, pattern, unix-time, pure-token, oneof, block.
    pub kind: &'static str,
    /// The literal token before the value (`EX` in `EX seconds`).
    pub token: Option<String>,
    /// May be omitted.
    pub optional: bool,
    /// May repeat.
    pub multiple: bool,
    /// Children of a oneof or block.
    pub children: Vec<ArgDoc>,
}

fn is_token(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_uppercase()) && !word.chars().any(|c| c.is_ascii_lowercase())
}

fn kind_of(name: &str, annotated: Option<&str>) -> &'static str {
    match annotated {
        Some("integer") => "integer",
        Some("double") => "double",
        Some("key") => "key",
        Some("pattern") => "pattern",
        Some("unix-time") => "unix-time",
        _ if matches!(
            name,
            "key" | "source" | "destination" | "newkey" | "destkey"
        ) =>
        {
            "key"
        }
        _ => "string",
    }
}

/// A tiny recursive-descent parser over the syntax words.
struct Parser<'a> {
    toks: Vec<&'a str>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(syntax: &'a str) -> Self {
        // Make brackets, parentheses and bars their own words.
        let mut toks = Vec::new();
        let mut start = None;
        for (i, ch) in syntax.char_indices() {
            let special = matches!(ch, '[' | ']' | '(' | ')' | '|');
            if ch.is_whitespace() || special {
                if let Some(s) = start.take() {
                    toks.push(&syntax[s..i]);
                }
                if special {
                    toks.push(&syntax[i..i + 1]);
                }
            } else if start.is_none() {
                start = Some(i);
            }
        }
        if let Some(s) = start {
            toks.push(&syntax[s..]);
        }
        Parser { toks, pos: 0 }
    }

    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<&'a str> {
        let t = self.peek();
        self.pos += 1;
        t
    }

    /// A sequence of items until `)`/`]`/`|` or the end.
    fn sequence(&mut self) -> Vec<ArgDoc> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t, ")" | "]" | "|") {
                break;
            }
            if let Some(item) = self.item() {
                out.push(item);
            }
        }
        out
    }

    /// Alternatives separated by `|`; one alternative stays itself (or a block).
    fn group(&mut self, name: Option<&str>) -> ArgDoc {
        let mut alts = vec![self.sequence()];
        while self.peek() == Some("|") {
            self.bump();
            alts.push(self.sequence());
        }
        let as_one = |seq: Vec<ArgDoc>| -> ArgDoc {
            if seq.len() == 1 {
                seq.into_iter().next().unwrap_or_else(|| block(Vec::new()))
            } else {
                block(seq)
            }
        };
        let mut doc = if alts.len() == 1 {
            as_one(alts.into_iter().next().unwrap_or_default())
        } else {
            let children: Vec<ArgDoc> = alts.into_iter().map(as_one).collect();
            ArgDoc {
                name: children.first().map(|c| c.name.clone()).unwrap_or_default(),
                kind: "oneof",
                token: None,
                optional: false,
                multiple: false,
                children,
            }
        };
        if doc.kind == "block" && doc.name.is_empty() {
            doc.name = doc
                .children
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_default();
        }
        if let Some(n) = name {
            doc.name = n.to_string();
        }
        doc
    }

    fn item(&mut self) -> Option<ArgDoc> {
        let mut t = self.bump()?;
        // `name=` names the group or word that follows it.
        let mut name = None;
        if let Some((n, rest)) = t.split_once('=') {
            name = Some(n);
            t = if rest.is_empty() { self.bump()? } else { rest };
        }
        let mut doc = match t {
            "[" | "(" => {
                let mut g = self.group(name);
                let close = if t == "[" { "]" } else { ")" };
                if self.peek() == Some(close) {
                    self.bump();
                }
                g.optional |= t == "[";
                g
            }
            word if is_token(word) => match self.peek() {
                // A token followed by a lower-case word is that word's token.
                Some(next)
                    if !is_token(next)
                        && !next.ends_with('=')
                        && !matches!(next, "[" | "]" | "(" | ")" | "|") =>
                {
                    self.bump();
                    let mut d = leaf(next);
                    d.token = Some(word.to_string());
                    d
                }
                _ => ArgDoc {
                    name: word.to_ascii_lowercase(),
                    kind: "pure-token",
                    token: Some(word.to_string()),
                    optional: false,
                    multiple: false,
                    children: vec![],
                },
            },
            word => {
                let mut d = leaf(word);
                if let Some(n) = name {
                    d.name = n.to_string();
                }
                d
            }
        };
        // "(...)..." and "[...]..." repeat the whole group.
        if self.peek().is_some_and(|n| n.starts_with("...")) {
            self.bump();
            doc.multiple = true;
        }
        Some(doc)
    }
}

fn leaf(word: &str) -> ArgDoc {
    let multiple = word.ends_with("...");
    let word = word.trim_end_matches("...");
    let (name, annotated) = match word.split_once(':') {
        Some((n, t)) => (n, Some(t)),
        None => (word, None),
    };
    ArgDoc {
        name: name.to_string(),
        kind: kind_of(name, annotated),
        token: None,
        optional: false,
        multiple,
        children: vec![],
    }
}

fn block(children: Vec<ArgDoc>) -> ArgDoc {
    ArgDoc {
        name: String::new(),
        kind: "block",
        token: None,
        optional: false,
        multiple: false,
        children,
    }
}

/// Parses a table row's syntax into its argument tree.
pub fn parse_syntax(syntax: &str) -> Vec<ArgDoc> {
    let mut p = Parser::new(syntax);
    let mut out = Vec::new();
    while p.peek().is_some() {
        out.extend(p.sequence());
        // Skip a stray closing bracket or bar rather than loop on it.
        if p.peek().is_some() {
            p.bump();
        }
    }
    out
}

fn arg_reply(doc: &ArgDoc, key_index: &mut i64) -> Reply {
    let mut fields = vec![
        (Reply::bulk("name"), Reply::bulk(&doc.name)),
        (Reply::bulk("type"), Reply::bulk(doc.kind)),
    ];
    if doc.kind == "key" {
        fields.push((Reply::bulk("key_spec_index"), Reply::Int(*key_index)));
        *key_index = (*key_index + 1).min(1);
    }
    if let Some(t) = &doc.token {
        fields.push((Reply::bulk("token"), Reply::bulk(t)));
    }
    let mut flags = Vec::new();
    if doc.optional {
        flags.push(Reply::simple("optional"));
    }
    if doc.multiple {
        flags.push(Reply::simple("multiple"));
    }
    if !flags.is_empty() {
        fields.push((Reply::bulk("flags"), Reply::Set(flags)));
    }
    if !doc.children.is_empty() {
        let mut idx = *key_index;
        let kids = doc
            .children
            .iter()
            .map(|c| arg_reply(c, &mut idx))
            .collect();
        fields.push((Reply::bulk("arguments"), Reply::Array(kids)));
    }
    Reply::Map(fields)
}

/// The `COMMAND DOCS` entry of a (sub)command.
pub fn docs_reply(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let mut fields = vec![
        (Reply::bulk("summary"), Reply::bulk(spec.summary)),
        (Reply::bulk("since"), Reply::bulk(spec.since)),
        (Reply::bulk("group"), Reply::bulk(spec.group.as_str())),
        (Reply::bulk("complexity"), Reply::bulk(spec.complexity)),
    ];
    let args = parse_syntax(spec.syntax);
    if !args.is_empty() {
        let mut key_index = 0;
        let list = args.iter().map(|a| arg_reply(a, &mut key_index)).collect();
        fields.push((Reply::bulk("arguments"), Reply::Array(list)));
    }
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| {
                (
                    Reply::bulk(format!("{}|{}", spec.name, s.name)),
                    docs_reply(s, Some(spec)),
                )
            })
            .collect();
        fields.push((Reply::bulk("subcommands"), Reply::Map(subs)));
    }
    let _ = parent;
    Reply::Map(fields)
}

/// Redis 7.0's ACL categories, in the order it prints them.
const ACL_CATEGORIES: [&str; 21] = [
    "@keyspace",
    "@read",
    "@write",
    "@set",
    "@sortedset",
    "@list",
    "@hash",
    "@string",
    "@bitmap",
    "@hyperloglog",
    "@geo",
    "@stream",
    "@pubsub",
    "@admin",
    "@fast",
    "@slow",
    "@blocking",
    "@dangerous",
    "@connection",
    "@transaction",
    "@scripting",
];

/// The bit of ACL category `name` (lower case), if Redis has it.
fn category_bit(name: &str) -> Option<u32> {
    ACL_CATEGORIES
        .iter()
        .position(|c| c.strip_prefix('@') == Some(name))
        .map(|i| 1 << i)
}

/// The bits of `names` (each in [`ACL_CATEGORIES`]).
fn category_bits(names: &[&str]) -> u32 {
    names
        .iter()
        .filter_map(|n| category_bit(n))
        .fold(0, |a, b| a | b)
}

/// The ACL categories of `spec` (a subcommand of `parent` if given), as
/// Redis 7.0 derives them: from the flags (write, read, admin with
/// dangerous, pubsub, fast or slow, blocking), from the command's family
/// (a command with subcommands takes none: its subcommands carry it), and
/// the categories Redis's command table names one by one.
fn acl_category_bits(spec: &CommandSpec, parent: Option<&CommandSpec>) -> u32 {
    let mut bits = 0;
    for (flag, cat) in [
        (flag::WRITE, "write"),
        (flag::READONLY, "read"),
        (flag::ADMIN, "admin"),
        (flag::ADMIN, "dangerous"),
        (flag::PUBSUB, "pubsub"),
        (flag::BLOCKING, "blocking"),
    ] {
        if spec.has(flag) {
            bits |= category_bits(&[cat]);
        }
    }
    bits |= category_bits(&[if spec.has(flag::FAST) { "fast" } else { "slow" }]);
    let family = parent.unwrap_or(spec);
    if parent.is_some() || spec.subcommands.is_empty() {
        bits |= category_bits(&[match family.group {
            Group::String => "string",
            Group::Bitmap => "bitmap",
            Group::Generic if !matches!(family.name, "sort" | "sort_ro") => "keyspace",
            Group::Connection => "connection",
            Group::Transactions => "transaction",
            Group::HyperLogLog => "hyperloglog",
            Group::Hash => "hash",
            Group::Set => "set",
            Group::SortedSet => "sortedset",
            Group::List => "list",
            // PUBSUB HELP is the one subcommand Redis leaves out of its family.
            Group::PubSub if spec.name != "help" => "pubsub",
            _ => "",
        }]);
    }
    bits |= category_bits(match family.name {
        // SORT reads lists, sets and sorted sets, and keys its patterns name.
        "sort" | "sort_ro" => &["set", "sortedset", "list", "dangerous"],
        "keys" | "info" => &["dangerous"],
        "flushall" | "flushdb" | "swapdb" => &["keyspace", "dangerous"],
        "dbsize" => &["keyspace"],
        "lastsave" | "role" => &["admin", "dangerous"],
        "command" => &["connection"],
        "function" if parent.is_some() => &["scripting"],
        _ => &[],
    });
    bits
}

/// Whether `spec` (a subcommand of `parent` if given) is in ACL category
/// `name` (lower case, without `@`), as `COMMAND LIST FILTERBY ACLCAT` asks.
pub fn in_acl_category(spec: &CommandSpec, parent: Option<&CommandSpec>, name: &str) -> bool {
    category_bit(name).is_some_and(|bit| acl_category_bits(spec, parent) & bit != 0)
}

fn acl_categories(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Vec<Reply> {
    let bits = acl_category_bits(spec, parent);
    ACL_CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| Reply::simple(c))
        .collect()
}

/// The shard channels of SPUBLISH, SSUBSCRIBE and SUNSUBSCRIBE, which
/// Redis 7.0 reports where keys go (a shard channel picks a cluster slot as
/// a key does), with a key spec flagged `not_key`. They are not keys here
/// either: `spec.keys` says none, so nothing locks, watches or routes them.
fn channel_positions(spec: &CommandSpec) -> Option<KeyPositions> {
    let last = match spec.name {
        "spublish" => 1,
        "ssubscribe" | "sunsubscribe" => -1,
        _ => return None,
    };
    Some(KeyPositions {
        first: 1,
        last,
        step: 1,
    })
}

/// Where `COMMAND INFO` says the keys of `spec` are, and the flags of its key spec.
fn reported_keys(spec: &CommandSpec) -> (KeyPositions, Vec<Reply>) {
    if let Some(channels) = channel_positions(spec) {
        return (channels, vec![Reply::simple("not_key")]);
    }
    let access = if spec.has(flag::WRITE) { "RW" } else { "RO" };
    (
        spec.keys,
        vec![Reply::simple(access), Reply::simple("access")],
    )
}

fn key_specs(keys: KeyPositions, key_flags: Vec<Reply>) -> Reply {
    // Sets, as Redis 7.0 sends them (arrays in RESP2).
    if keys.first == 0 {
        return Reply::Set(vec![]);
    }
    Reply::Set(vec![Reply::Map(vec![
        (Reply::bulk("flags"), Reply::Set(key_flags)),
        (
            Reply::bulk("begin_search"),
            Reply::Map(vec![
                (Reply::bulk("type"), Reply::bulk("index")),
                (
                    Reply::bulk("spec"),
                    Reply::Map(vec![(Reply::bulk("index"), Reply::Int(keys.first.into()))]),
                ),
            ]),
        ),
        (
            Reply::bulk("find_keys"),
            Reply::Map(vec![
                (Reply::bulk("type"), Reply::bulk("range")),
                (
                    Reply::bulk("spec"),
                    Reply::Map(vec![
                        (
                            Reply::bulk("lastkey"),
                            Reply::Int(if keys.last < 0 {
                                keys.last.into()
                            } else {
                                (keys.last - keys.first).into()
                            }),
                        ),
                        (Reply::bulk("keystep"), Reply::Int(keys.step.into())),
                        (Reply::bulk("limit"), Reply::Int(0)),
                    ]),
                ),
            ]),
        ),
    ])])
}

/// The `COMMAND INFO` entry of a (sub)command.
pub fn info_reply(spec: &CommandSpec, parent: Option<&CommandSpec>) -> Reply {
    let name = match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    };
    let flags = flag::NAMES
        .iter()
        .filter(|(bit, _)| spec.has(*bit))
        .map(|(_, n)| Reply::simple(n))
        .collect();
    let subs = spec
        .subcommands
        .iter()
        .map(|s| info_reply(s, Some(spec)))
        .collect();
    let (keys, key_flags) = reported_keys(spec);
    Reply::Array(vec![
        Reply::bulk(name),
        Reply::Int(spec.arity.into()),
        Reply::Set(flags),
        Reply::Int(keys.first.into()),
        Reply::Int(keys.last.into()),
        Reply::Int(keys.step.into()),
        Reply::Set(acl_categories(spec, parent)),
        // Tips, key specs and (when there are none) subcommands are sets
        // in Redis 7.0's reply, which RESP3 shows.
        Reply::Set(vec![]),
        key_specs(keys, key_flags),
        if spec.subcommands.is_empty() {
            Reply::Set(vec![])
        } else {
            Reply::Array(subs)
        },
    ])
}

/// Every top-level command.
pub fn all() -> &'static [CommandSpec] {
    COMMANDS
}

#[cfg(test)]
mod tests {
    use super::super::table;
    use super::*;

    #[test]
    fn set_syntax_becomes_redis_argument_tree() {
        let args = parse_syntax(
            "key value condition=[NX | XX] [GET] expiration=[EX seconds:integer | KEEPTTL]",
        );
        assert_eq!(args.len(), 5);
        assert_eq!((args[0].name.as_str(), args[0].kind), ("key", "key"));
        assert_eq!((args[1].name.as_str(), args[1].kind), ("value", "string"));
        let cond = &args[2];
        assert_eq!(
            (cond.name.as_str(), cond.kind, cond.optional),
            ("condition", "oneof", true)
        );
        assert_eq!(
            cond.children
                .iter()
                .map(|c| c.token.clone().unwrap())
                .collect::<Vec<_>>(),
            ["NX", "XX"]
        );
        assert_eq!((args[3].kind, args[3].optional), ("pure-token", true));
        let exp = &args[4];
        assert_eq!(exp.children[0].token.as_deref(), Some("EX"));
        assert_eq!(
            (exp.children[0].name.as_str(), exp.children[0].kind),
            ("seconds", "integer")
        );
        assert_eq!(exp.children[1].kind, "pure-token");
    }

    #[test]
    fn repeated_arguments_and_blocks() {
        let del = parse_syntax("key...");
        assert!(del[0].multiple && del[0].kind == "key");
        let mset = parse_syntax("(key value)...");
        assert_eq!(mset.len(), 1);
        assert_eq!((mset[0].kind, mset[0].multiple), ("block", true));
        assert_eq!(mset[0].children.len(), 2);
    }

    /// The categories `COMMAND INFO` prints for `name` (`parent|sub` for a subcommand).
    fn categories_of(name: &str) -> Vec<&'static str> {
        let (parent, spec) = match name.split_once('|') {
            Some((p, sub)) => {
                let p = table::lookup(p.as_bytes()).expect("parent");
                (Some(p), p.subcommand(sub.as_bytes()).expect("subcommand"))
            }
            None => (None, table::lookup(name.as_bytes()).expect("command")),
        };
        let bits = acl_category_bits(spec, parent);
        ACL_CATEGORIES
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, c)| *c)
            .collect()
    }

    /// Every command and subcommand in ACL category `cat`.
    fn in_category(cat: &str) -> usize {
        COMMANDS
            .iter()
            .map(|spec| {
                usize::from(in_acl_category(spec, None, cat))
                    + spec
                        .subcommands
                        .iter()
                        .filter(|sub| in_acl_category(sub, Some(spec), cat))
                        .count()
            })
            .sum()
    }

    /// As redis-server 7.0.15 prints them (`COMMAND INFO`), and as many
    /// commands per category as its `COMMAND LIST FILTERBY ACLCAT` lists
    /// among those ringkv has.
    #[test]
    fn acl_categories_are_redis_7_0s() {
        for (name, want) in [
            ("lpush", &["@write", "@list", "@fast"][..]),
            ("blmove", &["@write", "@list", "@slow", "@blocking"]),
            ("bzpopmin", &["@write", "@sortedset", "@fast", "@blocking"]),
            ("flushall", &["@keyspace", "@write", "@slow", "@dangerous"]),
            ("keys", &["@keyspace", "@read", "@slow", "@dangerous"]),
            ("swapdb", &["@keyspace", "@write", "@fast", "@dangerous"]),
            ("dbsize", &["@keyspace", "@read", "@fast"]),
            ("lastsave", &["@admin", "@fast", "@dangerous"]),
            ("info", &["@slow", "@dangerous"]),
            (
                "sort",
                &[
                    "@write",
                    "@set",
                    "@sortedset",
                    "@list",
                    "@slow",
                    "@dangerous",
                ],
            ),
            ("publish", &["@pubsub", "@fast"]),
            ("subscribe", &["@pubsub", "@slow"]),
            ("client", &["@slow"]),
            ("client|help", &["@slow", "@connection"]),
            ("command", &["@slow", "@connection"]),
            ("command|info", &["@slow", "@connection"]),
            ("object|help", &["@keyspace", "@slow"]),
            ("pubsub|help", &["@slow"]),
            ("pubsub|numsub", &["@pubsub", "@slow"]),
            ("function|list", &["@slow", "@scripting"]),
            ("get", &["@read", "@string", "@fast"]),
        ] {
            assert_eq!(categories_of(name), want, "{name}");
        }
        for (cat, count) in [
            ("list", 24),
            ("sortedset", 37),
            ("set", 19),
            ("hash", 16),
            ("pubsub", 13),
            ("string", 22),
            ("bitmap", 7),
            ("transaction", 5),
        ] {
            assert_eq!(in_category(cat), count, "@{cat}");
        }
        assert_eq!(in_category("nosuch"), 0);
    }

    #[test]
    fn shard_channels_are_reported_as_not_key_positions() {
        let spublish = table::lookup(b"spublish").expect("spublish");
        let (keys, flags) = reported_keys(spublish);
        assert_eq!((keys.first, keys.last, keys.step), (1, 1, 1));
        assert_eq!(flags, vec![Reply::simple("not_key")]);
        // Not keys to anything that locks, watches or routes.
        assert_eq!(spublish.keys.first, 0);
        let ssubscribe = table::lookup(b"ssubscribe").expect("ssubscribe");
        assert_eq!(reported_keys(ssubscribe).0.last, -1);
    }

    #[test]
    fn every_command_with_subcommands_has_help() {
        for spec in COMMANDS.iter().filter(|s| !s.subcommands.is_empty()) {
            assert!(
                spec.subcommands.iter().any(|s| s.name == "help"),
                "{} HELP",
                spec.name
            );
        }
    }

    #[test]
    fn every_row_parses() {
        for spec in COMMANDS {
            let _ = docs_reply(spec, None);
            for sub in spec.subcommands {
                let _ = parse_syntax(sub.syntax);
            }
        }
    }
}
