//! ringkv's own commands: consistency levels (`CONSISTENCY`, the `CL`
//! prefix), versioned access (`VGET`, `VSET`) and `CLUSTER INFO | NODES |
//! RING | REPAIR | JOIN | LEAVE`. Documented in `docs/commands.md`.

use bytes::Bytes;
use ringkv_cluster::{CausalContext, Consistency, Mutation};
use ringkv_conf::ConfValue;
use ringkv_resp::Reply;

use super::args::{ArgCursor, arg};
use super::table::Handler;
use super::{Ctx, Resolved, resolve, run_boxed};
use crate::reply_error::{CmdResult, ReplyError};

/// Parses a level name (any case).
fn parse_level(raw: &[u8]) -> Result<Consistency, ReplyError> {
    let text = String::from_utf8_lossy(raw);
    Consistency::parse_conf(&text).map_err(|_| {
        ReplyError::Err(
            format!(
                "invalid consistency level '{text}', expected ONE, TWO, THREE, QUORUM, ALL or ANY"
            )
            .into(),
        )
    })
}

/// CONSISTENCY [level | READ level | WRITE level ...].
pub async fn consistency(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        let r = cx.read_level().upper();
        let w = cx.write_level().upper();
        return Ok(Reply::Array(vec![
            Reply::Bulk(Bytes::from_static(b"read")),
            Reply::Bulk(Bytes::from(r)),
            Reply::Bulk(Bytes::from_static(b"write")),
            Reply::Bulk(Bytes::from(w)),
        ]));
    }
    if args.len() == 2 {
        let level = parse_level(arg(args, 1))?;
        if level == Consistency::Any {
            return Err(ReplyError::err(
                "ANY applies to writes only: use CONSISTENCY WRITE ANY",
            ));
        }
        cx.client.read_level = Some(level);
        cx.client.write_level = Some(level);
        return Ok(Reply::Ok);
    }
    let mut c = ArgCursor::new(args, 1);
    let (mut read, mut write) = (None, None);
    while c.has_more() {
        if c.eat("READ") {
            let level = parse_level(c.require()?)?;
            if level == Consistency::Any {
                return Err(ReplyError::err("ANY applies to writes only"));
            }
            read = Some(level);
        } else if c.eat("WRITE") {
            write = Some(parse_level(c.require()?)?);
        } else {
            return Err(ReplyError::syntax());
        }
    }
    if let Some(l) = read {
        cx.client.read_level = Some(l);
    }
    if let Some(l) = write {
        cx.client.write_level = Some(l);
    }
    Ok(Reply::Ok)
}

/// CL level command [arg ...]: runs one command at `level`.
pub async fn cl(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let level = parse_level(arg(args, 1))?;
    let inner = args.get(2..).unwrap_or_default().to_vec();
    let (parent, spec) = match resolve(&inner) {
        Resolved::Run(p, s) => (p, s),
        Resolved::Refused(_, _, e) | Resolved::Unknown(e) => return Err(e),
    };
    if matches!(
        spec.handler,
        Handler::Cl
            | Handler::Multi
            | Handler::Exec
            | Handler::Discard
            | Handler::Watch
            | Handler::Reset
            | Handler::Quit
    ) {
        return Err(ReplyError::Err(
            format!("CL cannot wrap '{}'", spec.name).into(),
        ));
    }
    let previous = cx.client.level_override.replace(level);
    let reply = run_boxed(cx.server, cx.client, parent, spec, &inner).await;
    cx.client.level_override = previous;
    Ok(reply)
}

/// VGET key: every live sibling and the causal context covering them all.
pub async fn vget(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let level = cx.read_level();
    let Some(versions) = cx.cluster().versions(cx.db(), key, level).await? else {
        return Ok(Reply::Array(vec![Reply::Nil, Reply::Array(Vec::new())]));
    };
    Ok(Reply::Array(vec![
        Reply::Bulk(Bytes::from(versions.context)),
        Reply::Array(versions.values.into_iter().map(Reply::Bulk).collect()),
    ]))
}

/// VSET key value [CONTEXT ctx] [EX seconds | PX milliseconds].
pub async fn vset(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (key, value) = (arg(args, 1), arg(args, 2));
    let mut c = ArgCursor::new(args, 3);
    let (mut context, mut expire_at_ms) = (None, 0u64);
    while c.has_more() {
        if c.eat("CONTEXT") {
            let raw = String::from_utf8_lossy(c.require()?).into_owned();
            context = Some(
                CausalContext::parse(&raw)
                    .map_err(|e| ReplyError::Err(format!("invalid causal context: {e}").into()))?,
            );
        } else if let Some(unit) = if c.eat("EX") {
            Some(1000i64)
        } else if c.eat("PX") {
            Some(1)
        } else {
            None
        } {
            let n = c.require_i64()?;
            let ms = n
                .checked_mul(unit)
                .filter(|&ms| ms > 0)
                .ok_or_else(|| ReplyError::invalid_expire("vset"))?;
            expire_at_ms = cx.now_ms().saturating_add(ms.unsigned_abs());
        } else {
            return Err(ReplyError::syntax());
        }
    }
    let _lock = cx.ks().lock([key.as_ref()]).await;
    cx.server.watches.touch(cx.db(), key);
    let mutation = Mutation::Set {
        value: Bytes::copy_from_slice(value),
        expire_at_ms,
        context,
    };
    let level = cx.write_level();
    let (_, ack) = cx.cluster().write(cx.db(), key, mutation, level).await?;
    cx.client.await_ack(ack);
    Ok(Reply::Ok)
}

fn text(lines: Vec<String>) -> Reply {
    let mut body = lines.join("\r\n");
    body.push_str("\r\n");
    Reply::Bulk(Bytes::from(body))
}

/// CLUSTER INFO: membership and ring figures, `field:value` lines.
pub async fn cluster_info(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(text(crate::info::cluster_lines(cx.server)))
}

/// CLUSTER NODES: one line per member.
pub async fn cluster_nodes(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let cluster = cx.cluster();
    let ownership = cluster.members().ring().ownership();
    let me = cluster.id();
    let lines = cluster
        .members()
        .views()
        .into_iter()
        .map(|v| {
            let s = &v.state;
            format!(
                "{:016x} {} {} {}{} {} phi={:.2} generation={} tokens={} ownership={:.4}",
                s.id,
                s.client_addr,
                s.cluster_addr,
                if s.id == me { "myself," } else { "" },
                s.status.as_str(),
                if v.up { "up" } else { "down" },
                v.phi,
                s.generation,
                s.tokens.len(),
                ownership.get(&s.id).copied().unwrap_or(0.0),
            )
        })
        .collect();
    Ok(text(lines))
}

/// CLUSTER RING: every virtual node as [token, node id, client address].
pub async fn cluster_ring(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let members = cx.cluster().members();
    let views = members.views();
    let addr_of = |id: u64| {
        views
            .iter()
            .find(|v| v.state.id == id)
            .map(|v| v.state.client_addr.clone())
            .unwrap_or_default()
    };
    let ring = members.ring();
    Ok(Reply::Array(
        ring.vnodes()
            .iter()
            .map(|&(token, id)| {
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from(token.to_string())),
                    Reply::Bulk(Bytes::from(format!("{id:016x}"))),
                    Reply::Bulk(Bytes::from(addr_of(id))),
                ])
            })
            .collect(),
    ))
}

fn summary_line(what: &str, s: &ringkv_cluster::RepairSummary) -> Reply {
    Reply::Simple(std::borrow::Cow::Owned(format!(
        "OK {what}: peers={} trees={} ranges_differing={} keys_pulled={} keys_pushed={}",
        s.peers, s.trees, s.ranges_differing, s.keys_pulled, s.keys_pushed
    )))
}

/// CLUSTER REPAIR: one anti-entropy round with every replica, now.
pub async fn cluster_repair(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let summary = cx.cluster().repair_round().await?;
    Ok(summary_line("repaired", &summary))
}

/// CLUSTER JOIN host:port: a cluster of one joins another cluster.
pub async fn cluster_join(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let seed = String::from_utf8_lossy(&args[2]).into_owned();
    if !seed
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0))
    {
        return Err(ReplyError::Err(
            format!("Invalid node address specified: {seed}").into(),
        ));
    }
    let summary = ringkv_cluster::join(cx.cluster(), &seed).await?;
    Ok(summary_line("joined", &summary))
}

/// CLUSTER REMOVE node-id: take a member that is gone for good off the
/// ring; the ranges it held are streamed to their new replicas.
pub async fn cluster_remove(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let text = String::from_utf8_lossy(&args[2]);
    let Some(id) = (text.len() <= 16)
        .then(|| u64::from_str_radix(&text, 16).ok())
        .flatten()
    else {
        return Err(ReplyError::Err(
            format!("Invalid node id specified: {text} (CLUSTER NODES shows them)").into(),
        ));
    };
    let summary = ringkv_cluster::remove(cx.cluster(), id).await?;
    Ok(summary_line("removed", &summary))
}

/// CLUSTER LEAVE: decommission this node.
pub async fn cluster_leave(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let summary = ringkv_cluster::leave(cx.cluster()).await?;
    Ok(summary_line("left", &summary))
}
