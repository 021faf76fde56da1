//! Connection commands: PING, ECHO, HELLO, AUTH, QUIT, RESET, SELECT and
//! the CLIENT subcommands.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ringkv_resp::{Protocol, Reply};

use super::args::{ArgCursor, arg, is, parse_i64};
use super::{Ctx, text_reply};
use crate::client::ReplyMode;
use crate::reply_error::{CmdResult, ReplyError, text};

/// The Redis version ringkv's command set and replies follow.
pub const REDIS_COMPAT_VERSION: &str = "7.0.0";

/// PING [message].
pub async fn ping(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 2 {
        return Err(ReplyError::arity("ping"));
    }
    if cx.client.protocol == Protocol::Resp2
        && cx.client.subscriptions.as_ref().is_some_and(|s| s.any())
    {
        // Subscribed mode (RESP2): a two-element array, as Redis answers.
        return Ok(Reply::Array(vec![
            Reply::bulk("pong"),
            Reply::Bulk(args.get(1).cloned().unwrap_or_default()),
        ]));
    }
    match args.get(1) {
        None => Ok(Reply::simple("PONG")),
        Some(m) if args.len() == 2 => Ok(Reply::Bulk(m.clone())),
        Some(_) => Err(ReplyError::arity("ping")),
    }
}

/// ECHO message.
pub async fn echo(_cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Bulk(arg(args, 1).clone()))
}

/// Checks `user`/`password` against `requirepass` in constant time.
fn check_password(cx: &Ctx<'_>, user: Option<&[u8]>, password: &[u8]) -> Result<(), ReplyError> {
    let required = cx.server.config.read().requirepass.clone();
    if user.is_some_and(|u| u != b"default") {
        return Err(ReplyError::WrongPass);
    }
    if required.is_empty() {
        // The default user has no password: any password is accepted.
        return Ok(());
    }
    let want = required.as_bytes();
    let diff = want.len() ^ password.len();
    let same = want
        .iter()
        .zip(password.iter().cycle())
        .fold(diff, |acc, (a, b)| acc | usize::from(a ^ b));
    if same == 0 && !password.is_empty() {
        Ok(())
    } else {
        Err(ReplyError::WrongPass)
    }
}

/// AUTH [username] password.
pub async fn auth(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (user, password) = match args.len() {
        2 => (None, arg(args, 1)),
        3 => (Some(arg(args, 1).as_ref()), arg(args, 2)),
        _ => return Err(ReplyError::syntax()),
    };
    if user.is_none() && cx.server.config.read().requirepass.is_empty() {
        return Err(ReplyError::err(text::AUTH_NOT_CONFIGURED));
    }
    check_password(cx, user, password)?;
    cx.client.authenticated = true;
    Ok(Reply::Ok)
}

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
pub async fn hello(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut protocol = cx.client.protocol;
    if let Some(ver) = args.get(1) {
        let v = parse_i64(ver)
            .map_err(|_| ReplyError::err("Protocol version is not an integer or out of range"))?;
        protocol = match v {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(ReplyError::NoProto),
        };
    }
    let mut c = ArgCursor::new(args, 2);
    let (mut credentials, mut name) = (None, None);
    while let Some(opt) = c.next_arg() {
        if is(opt, "AUTH") && c.rest().len() >= 2 {
            credentials = Some((c.require()?.clone(), c.require()?.clone()));
        } else if is(opt, "SETNAME") && c.has_more() {
            // A copy, as CLIENT SETNAME's.
            let n = Bytes::copy_from_slice(c.require()?);
            if !valid_client_name(&n) {
                return Err(ReplyError::err(
                    "Client names cannot contain spaces, newlines or special characters.",
                ));
            }
            name = Some(n);
        } else {
            return Err(ReplyError::Err(
                format!(
                    "Syntax error in HELLO option '{}'",
                    String::from_utf8_lossy(opt)
                )
                .into(),
            ));
        }
    }
    if let Some((user, password)) = &credentials {
        check_password(cx, Some(user), password)?;
        cx.client.authenticated = true;
    }
    if !cx.client.authenticated {
        return Err(ReplyError::Prefixed {
            prefix: "NOAUTH",
            text: "HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into(),
        });
    }
    if let Some(n) = name {
        *cx.client.handle.name.lock() = (!n.is_empty()).then_some(n);
    }
    cx.client.protocol = protocol;
    cx.client.handle.resp.store(
        u8::try_from(protocol.version()).unwrap_or(2),
        Ordering::Relaxed,
    );
    Ok(Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(REDIS_COMPAT_VERSION)),
        (Reply::bulk("proto"), Reply::Int(protocol.version())),
        (
            Reply::bulk("id"),
            Reply::Int(i64::try_from(cx.client.handle.id).unwrap_or(i64::MAX)),
        ),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(vec![])),
    ]))
}

/// QUIT: replies OK, then the connection closes.
pub async fn quit(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.client.close_after_reply = true;
    Ok(Reply::Ok)
}

/// RESET: leaves MULTI, forgets WATCHes, selects database 0, returns to
/// RESP2, turns replies back on and, if a password is set, logs out.
pub async fn reset(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.client.multi = None;
    cx.client.handle.multi.store(-1, Ordering::Relaxed);
    cx.server.watches.unwatch_all(cx.client);
    cx.client.select(0);
    cx.client.protocol = Protocol::Resp2;
    cx.client.handle.resp.store(2, Ordering::Relaxed);
    cx.client.reply_mode = ReplyMode::On;
    // The name goes too; CLIENT NO-EVICT stays, as in Redis 7.0's
    // clearClientConnectionState.
    *cx.client.handle.name.lock() = None;
    cx.client.authenticated = !cx.server.requires_auth();
    if let Some(mut subs) = cx.client.subscriptions.take() {
        cx.server.pubsub.forget(&mut subs);
        cx.client.handle.note_subscriptions(0, 0, 0);
    }
    if cx.client.handle.monitor.swap(false, Ordering::Relaxed) {
        cx.server.pubsub.monitors.remove(cx.client.handle.id);
    }
    Ok(Reply::simple("RESET"))
}

/// MONITOR: from now on the connection receives a line for every command
/// this node runs ([`crate::monitor`]). A second MONITOR gets no reply,
/// as in Redis; RESET or QUIT ends it.
pub async fn monitor(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if cx.client.in_exec {
        return Err(ReplyError::err(
            "MONITOR isn't allowed for DENY BLOCKING client",
        ));
    }
    if cx.client.handle.monitor.load(Ordering::Relaxed) {
        return Ok(Reply::Many(Vec::new()));
    }
    let handle = std::sync::Arc::clone(&cx.client.handle);
    let subs = cx
        .client
        .subscriptions
        .get_or_insert_with(|| crate::pubsub::Subscriptions::new(handle));
    cx.server
        .pubsub
        .monitors
        .add(std::sync::Arc::clone(&subs.subscriber));
    cx.client.handle.monitor.store(true, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// SELECT index.
pub async fn select(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = super::args::parse_db_index(arg(args, 1), cx.ks().databases())?;
    cx.client.select(db);
    Ok(Reply::Ok)
}

/// CLIENT ID.
pub async fn client_id(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        i64::try_from(cx.client.handle.id).unwrap_or(i64::MAX),
    ))
}

/// CLIENT SETNAME connection-name.
pub async fn client_setname(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let name = arg(args, 2);
    if !valid_client_name(name) {
        return Err(ReplyError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    // A copy: the argument is a slice of the request's read buffer, which
    // the name (and the slow log entries that show it) would keep whole.
    *cx.client.handle.name.lock() = (!name.is_empty()).then(|| Bytes::copy_from_slice(name));
    Ok(Reply::Ok)
}

/// CLIENT GETNAME.
pub async fn client_getname(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(cx
        .client
        .handle
        .name
        .lock()
        .clone()
        .map_or(Reply::Nil, Reply::Bulk))
}

/// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID id [id ...]].
pub async fn client_list(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Redis 7.0 takes one filter: TYPE <type>, or ID <id> [<id> ...].
    let mut only_ids: Option<Vec<i64>> = None;
    let mut type_ok = true;
    match args.get(2) {
        None => {}
        Some(opt) if is(opt, "TYPE") && args.len() == 4 => {
            let t = arg(args, 3);
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| is(t, n))
            {
                return Err(ReplyError::Err(
                    format!("Unknown client type '{}'", String::from_utf8_lossy(t)).into(),
                ));
            }
            type_ok = is(t, "normal");
        }
        Some(opt) if is(opt, "ID") && args.len() > 3 => {
            let ids = args[3..]
                .iter()
                .map(|id| parse_i64(id).map_err(|_| ReplyError::err("Invalid client ID")))
                .collect::<Result<Vec<_>, _>>()?;
            only_ids = Some(ids);
        }
        Some(_) => return Err(ReplyError::syntax()),
    }
    let mut out = String::new();
    for h in cx.server.clients.all() {
        let listed = |ids: &Vec<i64>| ids.iter().any(|&id| u64::try_from(id) == Ok(h.id));
        if type_ok && only_ids.as_ref().is_none_or(listed) {
            out.push_str(&h.describe());
            out.push('\n');
        }
    }
    Ok(text_reply(cx.client.protocol, out))
}

/// CLIENT INFO.
pub async fn client_info(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let line = cx.client.handle.describe() + "\n";
    Ok(text_reply(cx.client.protocol, line))
}

/// CLIENT SETINFO LIB-NAME libname | LIB-VER libver.
pub async fn client_setinfo(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (attr, value) = (arg(args, 2), arg(args, 3));
    let value_text = String::from_utf8_lossy(value).into_owned();
    let is_name = is(attr, "LIB-NAME");
    if !is_name && !is(attr, "LIB-VER") {
        return Err(ReplyError::Err(
            format!("Unrecognized option '{}'", String::from_utf8_lossy(attr)).into(),
        ));
    }
    if !valid_client_name(value) {
        let which = if is_name { "lib-name" } else { "lib-ver" };
        return Err(ReplyError::Err(
            format!("{which} cannot contain spaces, newlines or special characters.").into(),
        ));
    }
    let mut lib = cx.client.handle.lib.lock();
    if is_name {
        lib.0 = value_text
    } else {
        lib.1 = value_text
    }
    Ok(Reply::Ok)
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]: ends a blocking command's
/// wait as if it timed out, or with `-UNBLOCKED`; 1 if the client was
/// blocked.
pub async fn client_unblock(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(ReplyError::subcommand_syntax("CLIENT", arg(args, 1)));
    }
    // The reason is checked before the ID, as in Redis.
    let error = match args.get(3) {
        None => false,
        Some(w) if is(w, "TIMEOUT") => false,
        Some(w) if is(w, "ERROR") => true,
        Some(_) => {
            return Err(ReplyError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ));
        }
    };
    let id = parse_i64(arg(args, 2))?;
    let target = cx
        .server
        .clients
        .all()
        .into_iter()
        .find(|h| i64::try_from(h.id).ok() == Some(id));
    Ok(Reply::Int(match target {
        Some(h) if h.blocked.load(std::sync::atomic::Ordering::Relaxed) => {
            h.unblock_error
                .store(error, std::sync::atomic::Ordering::Release);
            h.unblock.notify_one();
            1
        }
        _ => 0,
    }))
}

/// CLIENT KILL ip:port | [ID id] [TYPE type] [ADDR ip:port] [LADDR ip:port] [USER name] [SKIPME yes|no] ...
pub async fn client_kill(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let me = cx.client.handle.id;
    if args.len() == 3 {
        // Old form: CLIENT KILL addr:port, answered with OK or an error.
        let addr = String::from_utf8_lossy(arg(args, 2)).into_owned();
        let target = cx
            .server
            .clients
            .all()
            .into_iter()
            .find(|h| h.addr.to_string() == addr);
        return match target {
            Some(h) if h.id == me => {
                cx.client.close_after_reply = true;
                Ok(Reply::Ok)
            }
            Some(h) if cx.server.clients.kill(h.id) => Ok(Reply::Ok),
            _ => Err(ReplyError::err("No such client")),
        };
    }
    let mut c = ArgCursor::new(args, 2);
    let (mut id, mut addr, mut laddr, mut user, mut type_ok, mut skipme) =
        (None, None, None, None, true, true);
    while let Some(opt) = c.next_arg() {
        let value = c.next_arg().ok_or_else(ReplyError::syntax)?;
        let text_value = String::from_utf8_lossy(value).into_owned();
        if is(opt, "ID") {
            let v = parse_i64(value)
                .ok()
                .and_then(|v| u64::try_from(v).ok())
                .filter(|&v| v > 0);
            id = Some(v.ok_or(ReplyError::err("client-id should be greater than 0"))?);
        } else if is(opt, "TYPE") {
            if !["normal", "master", "replica", "slave", "pubsub"]
                .iter()
                .any(|n| is(value, n))
            {
                return Err(ReplyError::Err(
                    format!("Unknown client type '{text_value}'").into(),
                ));
            }
            type_ok = is(value, "normal");
        } else if is(opt, "ADDR") {
            addr = Some(text_value);
        } else if is(opt, "LADDR") {
            laddr = Some(text_value);
        } else if is(opt, "USER") {
            // The only user is `default` (there are no ACL users).
            if text_value != "default" {
                return Err(ReplyError::Err(
                    format!("No such user '{text_value}'").into(),
                ));
            }
            user = Some(text_value);
        } else if is(opt, "SKIPME") {
            skipme = if is(value, "yes") {
                true
            } else if is(value, "no") {
                false
            } else {
                return Err(ReplyError::syntax());
            };
        } else {
            return Err(ReplyError::syntax());
        }
    }
    let mut killed = 0;
    for h in cx.server.clients.all() {
        let matches = type_ok
            && id.is_none_or(|id| h.id == id)
            && addr.as_ref().is_none_or(|a| h.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| h.laddr.to_string() == *a)
            && user.as_ref().is_none_or(|u| u == "default")
            && !(skipme && h.id == me);
        if matches {
            if h.id == me {
                cx.client.close_after_reply = true;
                killed += 1;
            } else if cx.server.clients.kill(h.id) {
                killed += 1;
            }
        }
    }
    Ok(Reply::Int(killed))
}

/// CLIENT NO-EVICT ON|OFF.
pub async fn client_no_evict(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let v = arg(args, 2);
    let on = if is(v, "ON") {
        true
    } else if is(v, "OFF") {
        false
    } else {
        return Err(ReplyError::syntax());
    };
    cx.client.handle.no_evict.store(on, Ordering::Relaxed);
    Ok(Reply::Ok)
}

/// CLIENT PAUSE timeout [WRITE|ALL] (`crate::client_pause`).
pub async fn client_pause(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(ReplyError::subcommand_syntax("CLIENT", arg(args, 1)));
    }
    let all = match args.get(3) {
        None => true,
        Some(m) if is(m, "WRITE") => false,
        Some(m) if is(m, "ALL") => true,
        Some(_) => return Err(ReplyError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = ringkv_resp::string_to_i64(arg(args, 2))
        .ok_or_else(|| ReplyError::err("timeout is not an integer or out of range"))?;
    let ms = u64::try_from(ms).map_err(|_| ReplyError::err("timeout is negative"))?;
    // Redis adds the timeout to the Unix time in milliseconds as a signed
    // 64-bit sum: one that passes i64::MAX wraps into the past, and the
    // command pauses nothing. So does this one (rather than every client,
    // for longer than the machine will run).
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if now_ms.saturating_add(ms) > i64::MAX as u64 {
        return Ok(Reply::Ok);
    }
    cx.server
        .client_pause
        .pause(std::time::Duration::from_millis(ms), all);
    Ok(Reply::Ok)
}

/// CLIENT UNPAUSE.
pub async fn client_unpause(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    cx.server.client_pause.unpause();
    Ok(Reply::Ok)
}

/// CLIENT REPLY ON|OFF|SKIP.
pub async fn client_reply(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let v = arg(args, 2);
    cx.client.reply_mode = if is(v, "ON") {
        ReplyMode::On
    } else if is(v, "OFF") {
        ReplyMode::Off
    } else if is(v, "SKIP") {
        // Skips the next command's reply (this one has none); ignored
        // while replies are off, as in Redis.
        if cx.client.reply_mode == ReplyMode::Off {
            return Ok(Reply::Ok);
        }
        cx.client.reply_skip_armed = true;
        ReplyMode::Skip
    } else {
        return Err(ReplyError::syntax());
    };
    Ok(Reply::Ok)
}
