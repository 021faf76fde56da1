//! Publish/subscribe commands with Redis 7.0's replies. Subscriptions are
//! kept by the node the subscriber is connected to ([`crate::pubsub`]);
//! PUBLISH and SPUBLISH deliver through every live node of the cluster and
//! reply with the receivers counted on all of them, as Redis Cluster does.
//! PUBSUB CHANNELS/NUMSUB/NUMPAT answer for this node, as in Redis Cluster.

use bytes::Bytes;
use ringkv_resp::Reply;

use super::Ctx;
use super::args::arg;
use crate::pubsub::{Family, Subscriptions, notice};
use crate::reply_error::{CmdResult, ReplyError};

fn subscriptions<'a>(cx: &'a mut Ctx<'_>) -> &'a mut Subscriptions {
    let handle = std::sync::Arc::clone(&cx.client.handle);
    cx.client
        .subscriptions
        .get_or_insert_with(|| Subscriptions::new(handle))
}

fn subscribe(cx: &mut Ctx<'_>, args: &[Bytes], family: Family, kind: &'static str) -> CmdResult {
    let server = std::sync::Arc::clone(cx.server);
    let subs = subscriptions(cx);
    let mut replies = Vec::with_capacity(args.len().saturating_sub(1));
    for name in args.iter().skip(1) {
        server.pubsub.subscribe(subs, family, name);
        replies.push(notice(kind, Some(name), subs.count(family)));
    }
    note_mode(cx);
    Ok(Reply::Many(replies))
}

fn unsubscribe(cx: &mut Ctx<'_>, args: &[Bytes], family: Family, kind: &'static str) -> CmdResult {
    let server = std::sync::Arc::clone(cx.server);
    let subs = subscriptions(cx);
    let names: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        subs.names(family).iter().cloned().collect()
    };
    let mut replies = Vec::with_capacity(names.len().max(1));
    for name in &names {
        server.pubsub.unsubscribe(subs, family, name);
        replies.push(notice(kind, Some(name), subs.count(family)));
    }
    if names.is_empty() {
        replies.push(notice(kind, None, subs.count(family)));
    }
    note_mode(cx);
    Ok(Reply::Many(replies))
}

/// Mirrors the subscription counts on the handle (CLIENT LIST).
fn note_mode(cx: &mut Ctx<'_>) {
    let (sub, psub, ssub) = cx.client.subscriptions.as_ref().map_or((0, 0, 0), |s| {
        (
            s.names(Family::Channel).len(),
            s.names(Family::Pattern).len(),
            s.names(Family::Shard).len(),
        )
    });
    cx.client.handle.note_subscriptions(sub, psub, ssub);
}

/// SUBSCRIBE channel [channel ...].
pub async fn subscribe_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe(cx, args, Family::Channel, "subscribe")
}

/// UNSUBSCRIBE [channel ...].
pub async fn unsubscribe_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe(cx, args, Family::Channel, "unsubscribe")
}

/// PSUBSCRIBE pattern [pattern ...].
pub async fn psubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe(cx, args, Family::Pattern, "psubscribe")
}

/// PUNSUBSCRIBE [pattern ...].
pub async fn punsubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe(cx, args, Family::Pattern, "punsubscribe")
}

/// SSUBSCRIBE shardchannel [shardchannel ...].
pub async fn ssubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    subscribe(cx, args, Family::Shard, "ssubscribe")
}

/// SUNSUBSCRIBE [shardchannel ...].
pub async fn sunsubscribe(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    unsubscribe(cx, args, Family::Shard, "sunsubscribe")
}

async fn publish(cx: &mut Ctx<'_>, args: &[Bytes], shard: bool) -> CmdResult {
    cx.server
        .pubsub
        .stats
        .published
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = cx
        .cluster()
        .publish(shard, arg(args, 1).clone(), arg(args, 2).clone())
        .await;
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// PUBLISH channel message: receivers on every node.
pub async fn publish_cmd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    publish(cx, args, false).await
}

/// SPUBLISH shardchannel message.
pub async fn spublish(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    publish(cx, args, true).await
}

fn channel_list(cx: &Ctx<'_>, args: &[Bytes], shard: bool) -> Reply {
    let pattern = args.get(2).map(|p| &p[..]);
    Reply::Array(
        cx.server
            .pubsub
            .channels(shard, pattern)
            .into_iter()
            .map(Reply::Bulk)
            .collect(),
    )
}

fn numsub(cx: &Ctx<'_>, args: &[Bytes], shard: bool) -> Reply {
    Reply::Array(
        args.iter()
            .skip(2)
            .flat_map(|c| {
                let n = cx.server.pubsub.numsub(shard, c);
                [
                    Reply::Bulk(c.clone()),
                    Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                ]
            })
            .collect(),
    )
}

/// PUBSUB CHANNELS [pattern].
pub async fn pubsub_channels(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    at_most_one_pattern(args)?;
    Ok(channel_list(cx, args, false))
}

/// PUBSUB CHANNELS and SHARDCHANNELS take one pattern at most.
fn at_most_one_pattern(args: &[Bytes]) -> Result<(), ReplyError> {
    if args.len() > 3 {
        return Err(ReplyError::subcommand_syntax("PUBSUB", arg(args, 1)));
    }
    Ok(())
}

/// PUBSUB SHARDCHANNELS [pattern].
pub async fn pubsub_shardchannels(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    at_most_one_pattern(args)?;
    Ok(channel_list(cx, args, true))
}

/// PUBSUB NUMSUB [channel ...].
pub async fn pubsub_numsub(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(numsub(cx, args, false))
}

/// PUBSUB SHARDNUMSUB [shardchannel ...].
pub async fn pubsub_shardnumsub(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(numsub(cx, args, true))
}

/// PUBSUB NUMPAT.
pub async fn pubsub_numpat(cx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(
        i64::try_from(cx.server.pubsub.active(Family::Pattern)).unwrap_or(i64::MAX),
    ))
}
