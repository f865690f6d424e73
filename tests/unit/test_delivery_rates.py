"""Success rates from bucketed counters (pure): windows, the routing preference, the floor."""
from __future__ import annotations

from chalicelib.domain.delivery_rates import (
    Bucket,
    Counted,
    Rates,
    RoutingPolicy,
    Tally,
    buckets_at,
    combined,
    window_rates,
)

NOW = 1_800_000_000.0


def _at(size: str, seconds_ago: float, ended: int, received: int, partner: str = "a", operator: str = "any"
        ) -> Counted:
    bucket = next(b for b in buckets_at(NOW - seconds_ago) if b.size == size)
    return Counted(partner, operator, bucket, Tally(ended, received))


def test_buckets_at__one_of_each_size_kept_longer_than_its_window():
    # When an outcome lands now
    buckets = buckets_at(NOW)
    # Then it counts in a 5-minute, an hourly and a daily bucket, each outliving the window that reads it
    assert [b.size for b in buckets] == ["m", "h", "d"]
    assert [b.expires_at - b.starts_at for b in buckets] == [7200, 26 * 3600, 8 * 86400]


def test_window_rates__sums_each_window_and_ignores_buckets_that_left_it():
    # Given outcomes 10 minutes, 3 hours, 2 days and 9 days ago (the last not yet deleted by TTL)
    counted = [_at("m", 600, 4, 3), _at("m", 7000, 9, 0), _at("h", 600, 4, 3), _at("h", 3 * 3600, 6, 1),
               _at("h", 25 * 3600, 50, 0), _at("d", 2 * 86400, 10, 10), _at("d", 9 * 86400, 100, 0)]
    # When the windows are read with an hour's recent window
    rates = window_rates(counted, NOW, 3600)[("a", "any")]
    # Then each holds only its own buckets
    assert rates.recent == Tally(4, 3)
    assert rates.day == Tally(10, 4)
    assert rates.week == Tally(10, 10)


def test_combined__one_operator_or_every_operator_of_some_partners():
    # Given two partners' counts, one of them per operator
    rates = {("a", "mts"): Rates(day=Tally(2, 1)), ("a", "any"): Rates(day=Tally(2, 2)),
             ("b", "any"): Rates(day=Tally(10, 0))}
    # Then "any" sums every operator, a named one only its own, a partner list only those partners
    assert combined(rates, ["a"], "any").day == Tally(4, 3)
    assert combined(rates, ["a"], "mts").day == Tally(2, 1)
    assert combined(rates).day == Tally(14, 3)


def test_preference__a_better_band_first_and_too_few_outcomes_count_as_unknown():
    policy = RoutingPolicy(floor=0.2, min_samples=10, band=0.05)
    good, poor, few = Rates(recent=Tally(20, 19)), Rates(recent=Tally(20, 10)), Rates(recent=Tally(9, 0))
    # Then a 95 % partner beats a 50 % one, and one with 9 outcomes is not judged yet (ranked first, not collapsed)
    assert policy.preference(good) < policy.preference(poor)
    assert policy.preference(few) == 0 and not policy.collapsed(few)
    # And a rate under the floor with enough outcomes has collapsed; one at the floor has not
    assert policy.collapsed(Rates(recent=Tally(10, 1)))
    assert not policy.collapsed(Rates(recent=Tally(10, 2)))


def test_tally__no_rate_before_any_outcome():
    assert Tally().rate is None
    assert Tally(4, 1).rate == 0.25
    assert Bucket("h", 2).starts_at == 7200
