"""Tests for the watermark payload codec: ECC round trips, keyed scrambling, honest p-values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from provguard.errors import WatermarkError
from provguard.watermark.payload import (
    PAYLOAD_BITS,
    PayloadCodec,
    PayloadDecision,
    false_positive_probability,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def _soft(bits: np.ndarray) -> np.ndarray:
    return bits.astype(np.float64) * 2 - 1


@pytest.mark.parametrize("n_coded", [128, 344, 384, 1000])
def test_round_trip_without_errors(n_coded: int) -> None:
    codec = PayloadCodec(KEY, n_coded)
    for payload in (0, 1, 2**64 - 1, 0x0123456789ABCDEF):
        bits = codec.encode(payload)
        assert bits.dtype == np.uint8 and bits.shape == (n_coded,) and set(np.unique(bits)) <= {0, 1}
        decision = codec.decode(_soft(bits))
        assert decision == PayloadDecision(True, payload, 0, n_coded, decision.p_value)
        assert decision.p_value <= 1e-6


def test_round_trip_with_bit_errors_and_erasures() -> None:
    rng = np.random.default_rng(3)
    codec = PayloadCodec(KEY, 384)
    for _ in range(20):
        payload = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        soft = _soft(codec.encode(payload)) * rng.uniform(0.2, 1.0, 384)
        flips = rng.choice(384, 25, replace=False)  # 6.5% hard errors
        soft[flips] *= -1
        erased = rng.choice(np.setdiff1d(np.arange(384), flips), 58, replace=False)  # 15% erasures
        soft[erased] = 0.0
        decision = codec.decode(soft)
        assert decision.detected and decision.payload == payload
        assert decision.n_bits == 384 - 58
        assert decision.bit_errors == 25


def test_soft_values_outvote_hard_errors() -> None:
    """Confident bits carry the decision where many weak bits are wrong."""
    rng = np.random.default_rng(5)
    codec = PayloadCodec(KEY, 512)
    payload = 0xDEADBEEF
    soft = _soft(codec.encode(payload))
    weak = rng.choice(512, 150, replace=False)
    soft[weak] *= -0.05  # 29% of the hard decisions are wrong, but barely
    decision = codec.decode(soft, fpr=1.0)
    assert decision.payload == payload and decision.bit_errors == 150


def test_zero_and_non_finite_soft_values_are_erasures() -> None:
    codec = PayloadCodec(KEY, 256)
    assert codec.decode(np.zeros(256)) == PayloadDecision(False, None, 0, 0, 1.0)
    soft = np.full(256, np.nan)
    assert not codec.decode(soft).detected
    # erasing everything but a handful of bits never yields a detection
    bits = _soft(codec.encode(42))
    bits[10:] = 0.0
    decision = codec.decode(bits)
    assert not decision.detected and decision.n_bits == 10


def test_random_soft_values_are_never_detected() -> None:
    rng = np.random.default_rng(11)
    codec = PayloadCodec(KEY, 384)
    decisions = [codec.decode(rng.normal(size=384)) for _ in range(300)]
    assert not any(d.detected for d in decisions)
    assert all(d.payload is None for d in decisions)
    assert min(d.p_value for d in decisions) > 1e-6
    # biased (all-same-sign) readings, as naive decoders produce on unmarked images, are not detected either
    assert not codec.decode(np.ones(384)).detected
    assert not codec.decode(-np.ones(384)).detected


def test_other_key_is_not_detected() -> None:
    mine, theirs = PayloadCodec(KEY, 384), PayloadCodec(OTHER_KEY, 384)
    for payload in range(0, 2**64, 2**60 + 12345):
        decision = mine.decode(_soft(theirs.encode(payload)))
        assert not decision.detected and decision.payload is None


def test_encoding_is_keyed_and_deterministic() -> None:
    a1, a2, b = PayloadCodec(KEY, 384), PayloadCodec(KEY, 384), PayloadCodec(OTHER_KEY, 384)
    assert np.array_equal(a1.encode(7), a2.encode(7))
    assert not np.array_equal(a1.encode(7), b.encode(7))
    assert not np.array_equal(a1.encode(7), a1.encode(8))
    # scrambling leaves the channel bits balanced even for an all-zero payload
    assert 0.35 < a1.encode(0).mean() < 0.65


def test_false_positive_probability_matches_the_union_bound() -> None:
    n, k = 384, 80
    expected = math.exp(binom.logcdf(k, n, 0.5) + PAYLOAD_BITS * math.log(2))
    assert false_positive_probability(n, k) == pytest.approx(expected, rel=1e-9)
    assert false_positive_probability(n, k, n_trials=1000) == pytest.approx(1000 * expected, rel=1e-9)
    assert false_positive_probability(n, n // 2) == 1.0
    assert false_positive_probability(0, 0) == 1.0
    probs = [false_positive_probability(n, e) for e in range(0, 200, 10)]
    assert all(a <= b for a, b in zip(probs, probs[1:]))
    # exact tail for a small case: 2**64 * P(Binomial(100, 1/2) <= 5)
    exact = sum(math.comb(100, i) for i in range(6)) / 2**100 * 2**64
    assert false_positive_probability(100, 5) == pytest.approx(exact, rel=1e-9)
    # no underflow for long codes
    assert false_positive_probability(4096, 100) < 1e-300


def test_decision_p_value_counts_trials() -> None:
    codec = PayloadCodec(KEY, 256)
    soft = _soft(codec.encode(99))
    soft[:40] *= -1
    one = codec.decode(soft)
    many = codec.decode(soft, n_trials=10_000)
    assert many.p_value == pytest.approx(min(1.0, one.p_value * 10_000), rel=1e-6)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(WatermarkError):
        PayloadCodec(KEY, 64)
    with pytest.raises(WatermarkError):
        PayloadCodec(b"short", 384)
    codec = PayloadCodec(KEY, 384)
    for bad in (-1, 2**64, 1.5, True):
        with pytest.raises(WatermarkError):
            codec.encode(bad)  # type: ignore[arg-type]
    with pytest.raises(WatermarkError):
        codec.decode(np.zeros(383))


def test_a_decision_carries_only_the_payload_it_detected() -> None:
    found = PayloadDecision(True, 0xBEEF, 3, 384, 1e-30)
    assert found.carries(0xBEEF) and not found.carries(0xBEEE)
    missed = PayloadDecision(False, None, 150, 384, 1.0)
    assert not missed.carries(0xBEEF)
    assert "150 of 384 coded bits" in missed.weak_mark_message()
