//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, with Redis 7.0's replies
//! and errors. The value is a Redis string in Redis's own representation
//! (`ringkv-hll`), so GET returns Redis's bytes and a value copied from
//! Redis works here. In a cluster, concurrent PFADDs through different
//! coordinators all count: their results are siblings joined register by
//! register on read (`docs/data-types.md`, HyperLogLog).
//!
//! One difference: PFCOUNT is a read here. Redis stores the count it
//! computed in the value's header; ringkv does not write on a read, so the
//! header's cached count stays marked stale until Redis itself counts it.

use bytes::Bytes;
use ringkv_cluster::{Applied, Mutation};
use ringkv_hll::Invalid;
use ringkv_resp::Reply;

use super::Ctx;
use super::args::arg;
use crate::reply_error::{CmdResult, ReplyError};

fn invalid(e: Invalid) -> ReplyError {
    match e {
        Invalid::NotHll => ringkv_cluster::Error::NotHll.into(),
        Invalid::Corrupt => ringkv_cluster::Error::CorruptHll.into(),
        Invalid::WrongType => ringkv_cluster::Error::WrongType.into(),
    }
}

/// PFADD key [element ...].
pub async fn pfadd(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = arg(args, 1);
    let elements = args.get(2..).unwrap_or_default().to_vec();
    let _lock = cx.ks().lock([key.as_ref()]).await;
    let level = cx.write_level();
    let alone = cx.server.cluster.is_alone();
    let deferred = cx.server.watches.before_write(alone, cx.db(), key);
    let (applied, ack) = cx
        .cluster()
        .write(cx.db(), key, Mutation::PfAdd(elements), level)
        .await?;
    cx.client.await_ack(ack);
    match applied {
        Applied::Changed(changed) => {
            cx.server
                .watches
                .after_write(deferred, changed, cx.db(), key);
            Ok(Reply::Int(i64::from(changed)))
        }
        other => Err(ReplyError::Err(
            format!("unexpected PFADD outcome {other:?}").into(),
        )),
    }
}

/// PFCOUNT key [key ...]: one key's count (its cached count when fresh),
/// or the count of the union of several.
pub async fn pfcount(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = args.get(1..).unwrap_or_default();
    if let [key] = keys {
        let Some(entry) = cx.read(key).await? else {
            return Ok(Reply::Int(0));
        };
        let n = ringkv_hll::count(&entry.value).map_err(invalid)?;
        return Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)));
    }
    let (max, _) = union_of(cx, keys).await?;
    let n = ringkv_hll::estimate(&max);
    Ok(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// PFMERGE destkey [sourcekey ...]: the destination (created if missing)
/// becomes the union of itself and the sources; dense if any was.
pub async fn pfmerge(cx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = args.get(1..).unwrap_or_default();
    let dest = arg(args, 1);
    let _lock = cx.ks().lock(keys.iter().map(|k| k.as_ref())).await;
    let (max, dense) = union_of(cx, keys).await?;
    let level = cx.write_level();
    cx.server.watches.touch(cx.db(), dest);
    let mutation = Mutation::PfMerge {
        registers: Bytes::from(max),
        dense,
    };
    let (_, ack) = cx.cluster().write(cx.db(), dest, mutation, level).await?;
    cx.client.await_ack(ack);
    Ok(Reply::Ok)
}

/// The register-wise maximum of the HyperLogLogs at `keys` (missing keys
/// count as empty), and whether any was dense. Fails on the first key that
/// is not a HyperLogLog, as Redis does, before anything is written.
async fn union_of(cx: &mut Ctx<'_>, keys: &[Bytes]) -> Result<(Vec<u8>, bool), ReplyError> {
    let mut max = vec![0u8; ringkv_hll::REGISTERS];
    let mut dense = false;
    for key in keys {
        let Some(entry) = cx.read(key).await? else {
            continue;
        };
        ringkv_hll::check(&entry.value).map_err(invalid)?;
        dense |= ringkv_hll::is_dense(&entry.value);
        ringkv_hll::union_registers(&mut max, &entry.value).map_err(invalid)?;
    }
    Ok((max, dense))
}
