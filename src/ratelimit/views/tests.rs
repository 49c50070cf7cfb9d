use super::*;
use crate::error::ApiError;
use crate::ratelimit::Subject;

const SEC: u64 = 1_000_000;
const START: u64 = 1_800_000_000 * SEC;

/// A replica deciding alone (no store, or an unreachable one).
fn alone(buckets: &mut Buckets, bucket: &str, limit: u32, now: u64) -> RateStatus {
    buckets
        .decide(bucket, Rate::per_second(limit), now, Footing::Alone)
        .answered()
}

#[test]
fn a_full_bucket_lets_the_limit_through_then_refuses() {
    let mut buckets = Buckets::default();
    let remaining: Vec<u32> = (0..3)
        .map(|_| alone(&mut buckets, "k:a", 3, START).remaining)
        .collect();
    assert_eq!(remaining, [2, 1, 0]);
    let refused = alone(&mut buckets, "k:a", 3, START);
    assert_eq!(refused.retry_after_secs, Some(1));
    assert_eq!(refused.remaining, 0);
    // Full again one second after the burst.
    assert_eq!(refused.reset_unix, 1_800_000_001);
    assert!(matches!(
        refused.check(),
        Err(ApiError::RateLimited { limit: 3, .. })
    ));
    assert_eq!(
        alone(&mut buckets, "k:b", 3, START).retry_after_secs,
        None,
        "buckets are per key"
    );
}

#[test]
fn users_keys_and_customers_never_share_a_bucket() {
    let names = [
        Subject::Key("a").bucket(),
        Subject::User("a").bucket(),
        Subject::Customer("a").bucket(),
    ];
    assert_eq!(
        names.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    // A customer's external_id is the client's: the store sees a digest.
    let long = Subject::Customer(&"x".repeat(10_000)).bucket();
    assert_eq!(long.len(), 2 + 43);
}

#[test]
fn requests_leak_back_at_the_rate() {
    let mut buckets = Buckets::default();
    for _ in 0..10 {
        assert!(alone(&mut buckets, "k:a", 10, START).check().is_ok());
    }
    assert!(alone(&mut buckets, "k:a", 10, START).check().is_err());
    // A tenth of a second later, exactly one more request passes.
    let later = START + SEC / 10;
    let status = alone(&mut buckets, "k:a", 10, later);
    assert_eq!((status.retry_after_secs, status.remaining), (None, 0));
    assert!(alone(&mut buckets, "k:a", 10, later).check().is_err());
    // After a quiet second the bucket is full again.
    assert_eq!(alone(&mut buckets, "k:a", 10, later + SEC).remaining, 9);
}

#[test]
fn idle_buckets_are_evicted_so_memory_stays_bounded() {
    let mut buckets = Buckets::default();
    let mut now = START;
    for i in 0..100_000 {
        // A new key every 100 µs: at most ~10,000 are active in any second.
        now += 100;
        alone(&mut buckets, &format!("k:{i}"), 1, now);
    }
    let held = buckets.views.len();
    assert!(held <= 2 * 10_001 + MIN_SWEEP_AT, "{held}");
}

#[test]
fn a_shared_view_admits_alone_only_far_from_the_limit() {
    let mut buckets = Buckets::default();
    let rate = Rate::per_second(10);
    // From a full bucket, a replica admits on its own while more than half
    // the limit would be left.
    let mut own = 0;
    while let Decision::Answered(status) =
        buckets.decide("k:a", rate, START, Footing::Shared { fresh: true })
    {
        assert_eq!(status.retry_after_secs, None);
        own += 1;
    }
    assert_eq!(own, 5);
    // Then the store decides, told of the five admitted here.
    let Decision::AskStore { unsynced } =
        buckets.decide("k:a", rate, START, Footing::Shared { fresh: true })
    else {
        panic!("the store decides near the limit");
    };
    assert_eq!(unsynced, 0, "already handed over by the first ask");
    // A stale view admits nothing on its own.
    assert!(matches!(
        buckets.decide("k:b", rate, START, Footing::Shared { fresh: false }),
        Decision::AskStore { unsynced: 0 }
    ));
}

#[test]
fn a_view_refuses_on_its_own_when_it_is_empty() {
    let mut buckets = Buckets::default();
    let rate = Rate::per_second(4);
    // The store says the bucket is empty (others used it up).
    buckets.mirror(vec![("k:a".to_owned(), (START + SEC) as i64)], START);
    match buckets.decide("k:a", rate, START, Footing::Shared { fresh: true }) {
        Decision::Answered(status) => assert_eq!(status.retry_after_secs, Some(1)),
        Decision::AskStore { .. } => panic!("an empty view needs no store to refuse"),
    }
    // A quarter second later one slot is back: the store decides it.
    assert!(matches!(
        buckets.decide(
            "k:a",
            rate,
            START + SEC / 4,
            Footing::Shared { fresh: true }
        ),
        Decision::AskStore { .. }
    ));
}

#[test]
fn a_sync_hands_over_what_was_admitted_and_takes_the_stores_view() {
    let mut buckets = Buckets::default();
    let rate = Rate::per_second(100);
    for _ in 0..3 {
        buckets.decide("k:a", rate, START, Footing::Shared { fresh: true });
    }
    // Three of a hundred: told within a second, not at every sync.
    assert!(buckets.take_unsynced(START + SEC / 2).is_empty());
    let consumed = buckets.take_unsynced(START + SEC);
    assert_eq!(
        consumed,
        [Consumed {
            bucket: "k:a".into(),
            add_us: 3 * 10_000,
            window_us: SEC as i64,
        }]
    );
    assert!(
        buckets.take_unsynced(START + SEC).is_empty(),
        "handed over once"
    );
    // One more admitted while the sync was on its way.
    buckets.decide("k:a", rate, START, Footing::Shared { fresh: true });
    // The store has the others' use of k:a too, and a bucket never used here.
    let stored = START + 50 * 10_000;
    buckets.mirror(
        vec![
            ("k:a".to_owned(), stored as i64),
            ("k:b".to_owned(), (START + SEC) as i64),
        ],
        START,
    );
    assert_eq!(buckets.views["k:a"].tat, stored + 10_000);
    assert_eq!(buckets.views["k:a"].unsynced, 1);
    assert!(matches!(
        buckets.decide("k:b", rate, START, Footing::Shared { fresh: true }),
        Decision::Answered(RateStatus {
            retry_after_secs: Some(_),
            ..
        })
    ));
    // What the store has as full is dropped.
    buckets.mirror(Vec::new(), START + SEC);
    assert!(!buckets.views.contains_key("k:b"));
    assert!(buckets.views.contains_key("k:a"), "one admission unsynced");
}

#[test]
fn the_stores_decision_counts_what_was_admitted_while_asking() {
    let mut buckets = Buckets::default();
    let rate = Rate::per_second(10);
    let status = buckets.settle("k:a", rate, true, START + SEC / 2, START);
    assert_eq!((status.retry_after_secs, status.remaining), (None, 5));
    let status = buckets.settle("k:a", rate, false, START + SEC, START);
    assert_eq!(status.retry_after_secs, Some(1));
}

#[test]
fn cut_off_from_the_store_a_view_limits_alone_and_keeps_count_for_it() {
    let mut buckets = Buckets::default();
    let rate = Rate::per_second(4);
    let passed = (0..6)
        .filter(|_| {
            buckets
                .decide("k:a", rate, START, Footing::Cut)
                .answered()
                .retry_after_secs
                .is_none()
        })
        .count();
    assert_eq!(passed, 4, "a full bucket, then the limit");
    // Four of four: a quarter of the limit and more, told at once.
    let told = buckets.take_unsynced(START);
    assert_eq!(told[0].add_us, 4 * 250_000, "the store learns all four");
    buckets.hand_back("k:a", 4);
    assert_eq!(buckets.views["k:a"].unsynced, 4, "kept for the next sync");
}

#[test]
fn a_sync_read_before_the_stores_last_decision_does_not_hand_its_slot_out_again() {
    let mut buckets = Buckets::default();
    let rate = Rate::per_second(3);
    // The store decided a request and left the bucket empty...
    buckets.settle("k:a", rate, true, START + SEC, START);
    // ...after a sync had read it with one slot left.
    buckets.mirror(
        vec![("k:a".to_owned(), (START + 2 * SEC / 3) as i64)],
        START,
    );
    assert!(matches!(
        buckets.decide("k:a", rate, START, Footing::Shared { fresh: true }),
        Decision::Answered(RateStatus {
            retry_after_secs: Some(_),
            ..
        })
    ));
}
