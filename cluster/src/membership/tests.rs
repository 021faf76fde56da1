//! Membership unit tests: merging, removal, pauses, handoffs.

use super::*;

fn state(id: u64, generation: u64, version: u64, tokens: Vec<u64>) -> MemberState {
    MemberState {
        id,
        cluster_addr: format!("127.0.0.1:{}", 17000 + id),
        client_addr: format!("127.0.0.1:{}", 7000 + id),
        generation,
        version,
        status: Status::Normal,
        tokens,
        handoff: Vec::new(),
    }
}

#[test]
fn newer_views_win_and_change_the_ring() {
    let m = Membership::new(state(1, 10, 0, vec![100]), Duration::from_millis(100), 8.0);
    assert!(m.merge(vec![state(2, 5, 3, vec![200])]));
    assert_eq!(m.ring().nodes(), vec![1, 2]);
    // An older version is ignored; a newer generation replaces.
    assert!(!m.merge(vec![state(2, 5, 1, vec![300])]));
    assert!(m.merge(vec![state(2, 6, 0, vec![300])]));
    assert!(m.ring().vnodes().iter().any(|&(t, n)| t == 300 && n == 2));
    // Nobody speaks for this node.
    m.merge(vec![state(1, 99, 99, vec![1])]);
    assert_eq!(m.my_state().unwrap().tokens, vec![100]);
    assert!(m.is_up(2));
}

#[test]
fn a_paused_node_does_not_convict_its_peers_for_its_own_pause() {
    let beat = Duration::from_millis(10);
    let m = Membership::new(state(1, 10, 0, vec![100]), beat, 8.0);
    let start = Instant::now();
    m.awake(start);
    m.merge(vec![state(2, 5, 1, vec![200])]);
    // 400 ms (40 intervals) later, with no awake call meanwhile: this
    // node was paused, not the peer.
    let woke = start + beat * 40;
    assert!(m.is_up_at(2, woke), "judged while still looking paused");
    let paused = m.awake(woke).expect("pause noticed");
    assert!(paused >= beat * 38, "{paused:?}");
    assert!(m.is_up_at(2, woke), "forgiven after the pause");
    // Awake and the peer silent for 30 intervals: now it is down.
    let mut now = woke;
    for _ in 0..30 {
        now += beat;
        assert_eq!(m.awake(now), None);
    }
    assert!(!m.is_up_at(2, now));
}

#[test]
fn a_liveness_snapshot_judges_every_member_as_of_its_instant() {
    let beat = Duration::from_millis(10);
    let m = Membership::new(state(1, 10, 0, vec![100]), beat, 8.0);
    let start = Instant::now();
    m.awake(start);
    m.merge(vec![state(2, 5, 1, vec![200]), state(3, 5, 1, vec![300])]);
    let mut now = start;
    for _ in 0..30 {
        now += beat;
        m.awake(now);
    }
    let earlier = Liveness::new(&m, start + beat);
    let later = Liveness::new(&m, now);
    for id in [1, 2, 3, 4] {
        assert_eq!(
            earlier.suspicion(id),
            m.suspicion_at(id, start + beat),
            "node {id}"
        );
        assert_eq!(later.suspicion(id), m.suspicion_at(id, now), "node {id}");
    }
    assert_eq!(later.suspicion(1), Some(0.0), "this node is always up");
    assert!(earlier.is_up(2) && earlier.is_up(3));
    assert!(
        !later.is_up(2) && !later.is_up(3),
        "silent for 30 intervals"
    );
    assert!(!earlier.is_up(4), "an unknown node is not up");
    // A heartbeat after the snapshot does not change its verdict: every
    // key planned with it sees the same replicas up.
    m.merge(vec![state(2, 5, 2, vec![200])]);
    assert!(!later.is_up(2));
    assert!(m.liveness().is_up(2), "judged again after the heartbeat");
    assert_eq!(later.threshold(), 8.0);
}

#[test]
fn a_removed_member_leaves_the_ring_everywhere() {
    let beat = Duration::from_millis(10);
    let a = Membership::new(state(1, 10, 0, vec![100]), beat, 8.0);
    let b = Membership::new(state(2, 10, 0, vec![200]), beat, 8.0);
    let gone = state(3, 5, 7, vec![300]);
    a.merge(vec![b.my_state().unwrap(), gone.clone()]);
    b.merge(vec![a.my_state().unwrap(), gone.clone()]);
    assert!(!a.remove(1), "not itself");
    assert!(!a.remove(9), "not an unknown member");
    assert!(a.remove(3));
    assert!(!a.remove(3), "only once");
    assert_eq!(a.ring().nodes(), vec![1, 2]);
    assert!(a.take_unsynced_removals());
    assert!(!a.take_unsynced_removals());
    // Gossip carries the removal to b, and it outranks a heartbeat the
    // removed member sent late in the same generation.
    let mut late = gone.clone();
    late.version += 1000;
    b.merge(a.states());
    b.merge(vec![late]);
    assert_eq!(b.ring().nodes(), vec![1, 2]);
    assert!(b.take_unsynced_removals());
    // A restart of the removed member (a new generation, its old data)
    // does not bring it back; the member itself, told of its removal,
    // knows its data is stale.
    let mut back = gone;
    back.generation += 1;
    b.merge(vec![back.clone()]);
    assert_eq!(b.ring().nodes(), vec![1, 2]);
    let restarted = Membership::new(back, beat, 8.0);
    assert!(!restarted.departed_earlier());
    restarted.merge(a.states());
    assert!(restarted.departed_earlier());
}

#[test]
fn a_running_node_refutes_its_removal() {
    let beat = Duration::from_millis(10);
    let a = Membership::new(state(1, 10, 0, vec![100]), beat, 8.0);
    let b = Membership::new(state(2, 10, 0, vec![200]), beat, 8.0);
    a.merge(vec![b.my_state().unwrap()]);
    assert!(a.remove(2));
    assert!(a.take_unsynced_removals());
    b.merge(a.states());
    let refuted = b.my_state().unwrap();
    assert_eq!(refuted.status, Status::Normal);
    assert!(refuted.version > REMOVAL_VERSION_STEP);
    assert!(!b.departed_earlier());
    assert!(b.take_unsynced_removals(), "it missed writes while removed");
    a.merge(b.states());
    assert_eq!(a.ring().nodes(), vec![1, 2]);
    assert!(a.take_unsynced_removals(), "its ranges moved back");
}

#[test]
fn two_removals_of_one_member_at_once_settle_on_one_handoff() {
    let beat = Duration::from_millis(10);
    let all = joined(4);
    let mut first = moved(&all[2], Status::Left);
    first.version += REMOVAL_VERSION_STEP;
    first.handoff = all[2].tokens.iter().map(|&t| (t, 1)).collect();
    let mut second = first.clone();
    second.handoff = all[2].tokens.iter().map(|&t| (t, 2)).collect();
    let a = Membership::new(all[0].clone(), beat, 8.0);
    let b = Membership::new(all[1].clone(), beat, 8.0);
    for (m, order) in [(&a, [&first, &second]), (&b, [&second, &first])] {
        m.merge(all.to_vec());
        m.merge(vec![order[0].clone()]);
        m.take_unsynced_removals();
        m.merge(vec![order[1].clone()]);
    }
    assert_eq!(
        a.ring(),
        b.ring(),
        "the same handoff kept whatever the order"
    );
    assert_eq!(a.ring().vnodes().len(), 512);
    assert!(!a.take_unsynced_removals(), "a kept its first plan");
    assert!(
        b.take_unsynced_removals(),
        "b's ranges moved: a repair is owed"
    );
}

#[test]
fn a_later_life_of_a_left_member_never_replaces_its_departure() {
    let beat = Duration::from_millis(10);
    let all = joined(3);
    let m = Membership::new(all[0].clone(), beat, 8.0);
    // It heard of node 3's restart (a later generation) before its
    // departure in the earlier one: the departure still wins.
    let mut restarted = all[2].clone();
    restarted.generation += 1;
    m.merge(vec![all[1].clone(), restarted.clone()]);
    assert_eq!(m.ring().nodes(), vec![1, 2, 3]);
    let mut left = moved(&all[2], Status::Left);
    left.handoff = m.handoff_plan(3);
    m.merge(vec![left.clone()]);
    assert_even(&m.ring(), &[1, 2], 384);
    m.merge(vec![restarted.clone()]);
    assert_even(&m.ring(), &[1, 2], 384);
    // The restarted node, running, learns of it and stops serving.
    let node3 = Membership::new(restarted, beat, 8.0);
    assert_eq!(node3.ring().nodes(), vec![3]);
    node3.merge(m.states());
    assert!(node3.departed_earlier());
    assert_eq!(node3.my_state().unwrap().status, Status::Left);
    assert_even(&node3.ring(), &[1, 2], 384);
    // A departure is final: finishing a bootstrap does not undo it.
    node3.update_me(|s| s.status = Status::Normal);
    assert_eq!(node3.my_state().unwrap().status, Status::Left);
    // A node that hears this life's copy first still ends with the
    // earlier departure, as every other node does.
    let p = Membership::new(all[1].clone(), beat, 8.0);
    p.merge(vec![all[0].clone(), node3.my_state().unwrap()]);
    p.merge(m.states());
    let held = p.states().into_iter().find(|s| s.id == 3).unwrap();
    assert_eq!(held.generation, left.generation);
    assert_eq!(p.ring(), m.ring());
}

/// `count` members that joined one after another, ids 1..=count, each
/// with 128 tokens chosen as a joining node chooses them.
fn joined(count: u64) -> Vec<MemberState> {
    let mut members: Vec<MemberState> = Vec::new();
    for id in 1..=count {
        let ring = Ring::new(members.iter().map(|m| (m.id, m.tokens.clone())));
        let tokens = crate::ring::allocate_tokens(&ring, id, 128, id);
        members.push(state(id, 10, 1, tokens));
    }
    members
}

/// The first of `all`, having heard of the others.
fn knowing_all(all: &[MemberState], beat: Duration) -> Membership {
    let m = Membership::new(all[0].clone(), beat, 8.0);
    m.merge(all[1..].to_vec());
    m
}

/// Asserts that `ring` has `nodes`, every one of `vnodes` tokens, and
/// ownership within 2% of even.
fn assert_even(ring: &Ring, nodes: &[NodeId], vnodes: usize) {
    assert_eq!(ring.nodes(), nodes);
    assert_eq!(ring.vnodes().len(), vnodes, "tokens adopted, not dropped");
    let even = 1.0 / nodes.len() as f64;
    for (node, share) in ring.ownership() {
        assert!(
            (share - even).abs() <= 0.02 * even,
            "node {node} owns {share}, want {even}"
        );
    }
}

/// Moves `s` to `status`, with a newer version.
fn moved(s: &MemberState, status: Status) -> MemberState {
    let mut s = s.clone();
    s.status = status;
    s.version += 1;
    s
}

#[test]
fn a_leaving_member_hands_its_vnodes_to_adopters_evenly() {
    let beat = Duration::from_millis(100);
    let all = joined(4);
    let m = knowing_all(&all, beat);
    // The third node to join leaves: handing its ranges to the next vnodes
    // would leave 0.375 / 0.375 / 0.25.
    let mut leaving = moved(&all[2], Status::Leaving);
    leaving.handoff = m.handoff_plan(3);
    assert_eq!(leaving.handoff.len(), 128);
    assert!(leaving.handoff.iter().all(|&(_, a)| a != 3));
    m.merge(vec![leaving.clone()]);
    assert_eq!(
        m.ring().nodes(),
        vec![1, 2, 3, 4],
        "it serves until it has left"
    );
    assert_even(&m.next_ring(), &[1, 2, 4], 512);
    let left = moved(&leaving, Status::Left);
    m.merge(vec![left.clone()]);
    assert_eq!(m.ring(), m.next_ring());
    assert_even(&m.ring(), &[1, 2, 4], 512);

    // An adopter that leaves in turn hands over what it adopted too.
    let mut second = moved(&all[3], Status::Leaving);
    second.handoff = m.handoff_plan(4);
    assert!(second.handoff.len() > 128, "its own and adopted vnodes");
    m.merge(vec![second.clone()]);
    assert_even(&m.next_ring(), &[1, 2], 512);
    m.merge(vec![moved(&second, Status::Left)]);
    assert_even(&m.ring(), &[1, 2], 512);

    // A left member's id does not come back: a later generation is
    // ignored, and the restarted node learns that its data is stale.
    let mut back = all[2].clone();
    back.generation += 1;
    back.status = Status::Joining;
    m.merge(vec![back.clone()]);
    assert_even(&m.ring(), &[1, 2], 512);
    let restarted = Membership::new(back, beat, 8.0);
    restarted.merge(m.states());
    assert!(restarted.departed_earlier());
}

#[test]
fn a_removed_member_is_handed_over_unless_it_was_joining() {
    let beat = Duration::from_millis(100);
    let all = joined(4);
    let m = knowing_all(&all, beat);
    assert!(m.remove(3));
    assert_even(&m.ring(), &[1, 2, 4], 512);
    // A joiner never served: its tokens leave the ring with it.
    let ring = m.ring();
    let mut joiner = state(5, 10, 1, crate::ring::allocate_tokens(&ring, 5, 128, 5));
    joiner.status = Status::Joining;
    m.merge(vec![joiner]);
    assert_eq!(m.next_ring().nodes(), vec![1, 2, 4, 5]);
    assert!(m.remove(5));
    assert_eq!(m.ring(), m.next_ring());
    assert_even(&m.ring(), &[1, 2, 4], 512);
    // Another node derives the same ring from the gossiped states.
    let other = Membership::new(all[1].clone(), beat, 8.0);
    other.merge(m.states());
    assert_eq!(other.ring(), m.ring());
}

#[test]
fn states_round_trip() {
    let mut s = state(7, 1, 2, vec![1, 2, 3]);
    s.handoff = vec![(1, 9), (3, 8)];
    let mut w = BodyWriter::new();
    s.encode(&mut w);
    let mut r = BodyReader::new(w.finish());
    assert_eq!(MemberState::decode(&mut r).unwrap(), s);
}

#[test]
fn only_a_normal_node_starts_leaving_and_only_once() {
    let all = joined(3);
    let m = knowing_all(&all, Duration::from_millis(10));
    let plan = m.handoff_plan(1);
    assert!(m.start_leaving(plan.clone()));
    assert!(!m.start_leaving(plan.clone()), "a second leave at once");
    assert_eq!(m.my_state().unwrap().handoff, plan);
    assert_even(&m.next_ring(), &[2, 3], 384);
    m.update_me(|s| s.status = Status::Left);
    assert!(!m.start_leaving(plan));
    m.update_me(|s| s.status = Status::Normal);
    assert_eq!(m.my_state().unwrap().status, Status::Left, "left is final");
}

/// A member's state as it announces it when it started `age` ago by this
/// node's clock (a generation in the future for a negative age).
fn started(id: u64, age_ms: i64, version: u64, tokens: Vec<u64>) -> MemberState {
    let now = bounds::unix_ms();
    let generation = if age_ms >= 0 {
        now.saturating_sub(age_ms.unsigned_abs())
    } else {
        now.saturating_add(age_ms.unsigned_abs())
    };
    state(id, generation, version, tokens)
}

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

#[test]
fn a_generation_far_ahead_of_the_clock_is_ignored_and_counted() {
    let beat = Duration::from_millis(10);
    let m = Membership::new(started(1, MINUTE_MS, 0, vec![100]), beat, 8.0);
    m.merge(vec![started(2, MINUTE_MS, 10, vec![200])]);
    // Two days ahead: it would outrank every restart of member 2 until
    // then; ignored, for a known member and an unknown one alike.
    assert!(!m.merge(vec![started(2, -2 * DAY_MS, 0, vec![300])]));
    assert!(!m.merge(vec![started(3, -2 * DAY_MS, 0, vec![400])]));
    assert_eq!(m.rejected_states(), 2);
    assert_eq!(m.ring().nodes(), vec![1, 2]);
    assert!(m.ring().vnodes().iter().any(|&(t, n)| t == 200 && n == 2));
    // A member whose clock runs minutes ahead of this node's is accepted,
    // at all the versions it can have reached.
    let ahead = started(4, -5 * MINUTE_MS, 0, vec![500]);
    assert!(m.merge(vec![ahead.clone()]));
    let mut later = ahead;
    later.version = 30_000;
    m.merge(vec![later]);
    assert_eq!(m.rejected_states(), 2);
    assert_eq!(m.ring().nodes(), vec![1, 2, 4]);
}

#[test]
fn an_unbeatable_version_is_ignored_and_the_member_stays() {
    let beat = Duration::from_millis(100);
    let a = Membership::new(started(1, MINUTE_MS, 0, vec![100]), beat, 8.0);
    let b = Membership::new(started(2, MINUTE_MS, 50, vec![200]), beat, 8.0);
    a.merge(vec![b.my_state().unwrap()]);
    // A peer announces b left at a version b could never outbid.
    let mut forged = b.my_state().unwrap();
    forged.status = Status::Left;
    forged.version = u64::MAX;
    assert!(!a.merge(vec![forged.clone()]));
    assert_eq!(a.rejected_states(), 1);
    assert!(!a.has_left(2));
    assert!(a.is_up(2));
    assert_eq!(a.ring().nodes(), vec![1, 2]);
    assert!(!a.take_unsynced_removals());
    // So is one just over the limit (a minute's margin for the clock).
    let limit = bounds::version_limit(forged.generation, bounds::unix_ms());
    forged.version = limit + 60_000;
    assert!(!a.merge(vec![forged.clone()]));
    assert_eq!(a.rejected_states(), 2);
    assert!(!a.has_left(2));
    // b itself ignores the absurd copy instead of trying to outbid it.
    forged.version = u64::MAX;
    b.merge(vec![forged.clone()]);
    assert_eq!(b.rejected_states(), 1);
    assert_eq!(b.my_state().unwrap().version, 50);
    assert!(!b.take_unsynced_removals());
    // A copy over a's limit that a peer whose clock runs ahead may have
    // accepted is still refuted by b, one above.
    forged.version = limit + 60_000;
    b.merge(vec![forged.clone()]);
    let mine = b.my_state().unwrap();
    assert_eq!(mine.version, limit + 60_001);
    assert_eq!(mine.status, Status::Normal);
    assert_eq!(b.rejected_states(), 1);
}

#[test]
fn a_removal_and_its_refutation_stay_within_the_bounds() {
    let beat = Duration::from_millis(10);
    // Started an hour ago, heartbeating at the fastest interval.
    let hour = 60 * MINUTE_MS;
    let a = Membership::new(started(1, hour, 360_000, vec![100]), beat, 8.0);
    let b = Membership::new(started(2, hour, 360_000, vec![200]), beat, 8.0);
    let c = Membership::new(started(3, hour, 360_000, vec![300]), beat, 8.0);
    let all = |m: &Membership| {
        m.merge(a.states());
        m.merge(b.states());
        m.merge(c.states());
    };
    all(&a);
    all(&b);
    all(&c);
    // Removed (twice, refuted in between), refuted: every step accepted.
    for _ in 0..2 {
        assert!(a.remove(3));
        b.merge(a.states());
        assert!(b.has_left(3), "the removal reaches b");
        c.merge(a.states());
        assert_eq!(c.my_state().unwrap().status, Status::Normal);
        b.merge(c.states());
        a.merge(c.states());
        assert!(!b.has_left(3), "the refutation reaches b");
        assert!(!a.has_left(3), "and a");
    }
    assert!(c.my_state().unwrap().version > 2 * REMOVAL_VERSION_STEP);
    for m in [&a, &b, &c] {
        assert_eq!(m.rejected_states(), 0);
        assert_eq!(m.ring().nodes(), vec![1, 2, 3]);
    }
}

#[test]
fn a_version_raised_by_a_plausible_amount_is_accepted() {
    let beat = Duration::from_millis(100);
    let m = Membership::new(started(1, MINUTE_MS, 0, vec![100]), beat, 8.0);
    let mut s = started(2, 10 * MINUTE_MS, 5, vec![200]);
    assert!(m.merge(vec![s.clone()]));
    // Ten minutes of 10 ms rounds, and a few status changes.
    s.version = 60_000 + 5;
    s.status = Status::Leaving;
    assert!(m.merge(vec![s.clone()]));
    assert_eq!(m.rejected_states(), 0);
    assert!(m.is_up(2));
    // More than one a millisecond over its life and a day (the clock skew
    // tolerated), on top of every removal allowed, is not.
    let ms = (10 + 24 * 60 + 1) * 60_000;
    s.version = ms + bounds::MAX_REMOVALS * REMOVAL_VERSION_STEP;
    s.status = Status::Left;
    assert!(!m.merge(vec![s.clone()]));
    assert_eq!(m.rejected_states(), 1);
    assert!(!m.has_left(2));
}

#[test]
fn a_removal_peers_would_ignore_is_refused() {
    let beat = Duration::from_millis(10);
    let m = Membership::new(started(1, MINUTE_MS, 0, vec![100]), beat, 8.0);
    // A peer raised member 2 close to the limit: a removal on top of it
    // would go over, and every other node would ignore it.
    let mut s = started(2, MINUTE_MS, 0, vec![200]);
    s.version = bounds::version_limit(s.generation, bounds::unix_ms()) - 1000;
    assert!(m.merge(vec![s]));
    assert!(!m.remove(2));
    assert!(!m.has_left(2));
    assert_eq!(m.ring().nodes(), vec![1, 2]);
}
