"""Descriptive statistics: the Student t quantile without scipy, and n, mean, SD and the 95 % CI."""

from __future__ import annotations

import math

import pytest

from clinical.statistics import describe, regularized_incomplete_beta, t_cdf, t_quantile


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (11, 2.201), (30, 2.042), (120, 1.980), (10_000, 1.960)],
)
def test_t_quantile_matches_the_published_table(df: int, expected: float) -> None:
    assert round(t_quantile(0.975, df), 3) == expected


def test_t_quantile_is_symmetric_and_inverts_the_distribution() -> None:
    assert t_quantile(0.5, 7) == 0.0
    assert t_quantile(0.025, 5) == pytest.approx(-2.5706, abs=1e-4)
    for df in (1, 3, 8, 25, 200):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)
    # df = 1 is the Cauchy distribution: its quantile is tan(π(p − ½)).
    assert t_quantile(0.9, 1) == pytest.approx(math.tan(math.pi * 0.4), rel=1e-9)


def test_incomplete_beta_known_values_and_bad_input() -> None:
    assert regularized_incomplete_beta(1, 1, 0.3) == pytest.approx(0.3)
    assert regularized_incomplete_beta(2, 3, 0.4) == pytest.approx(0.5248)
    with pytest.raises(ValueError):
        regularized_incomplete_beta(0, 1, 0.5)
    with pytest.raises(ValueError):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError):
        t_quantile(0.9, 0)


def test_describe_gives_mean_sd_and_the_t_interval() -> None:
    summary = describe([1, 2, 3, 4, 5])
    assert (summary.n, summary.mean) == (5, 3.0)
    assert summary.sd == pytest.approx(math.sqrt(2.5))
    half = 2.7764451 * math.sqrt(2.5) / math.sqrt(5)
    assert summary.ci_low == pytest.approx(3 - half, abs=1e-6)
    assert summary.ci_high == pytest.approx(3 + half, abs=1e-6)


def test_describe_with_fewer_than_two_values_has_no_sd_nor_interval() -> None:
    assert describe([]) == describe(()) and describe([]).n == 0 and describe([]).mean is None
    one = describe([-7])
    assert (one.n, one.mean, one.sd, one.ci_low, one.ci_high) == (1, -7.0, None, None, None)
    same = describe([4, 4, 4])
    assert (same.sd, same.ci_low, same.ci_high) == (0.0, 4.0, 4.0)
