"""Tests for the watermark payload codec: ECC round trips, keyed scrambling, honest p-values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from provguard.errors import WatermarkError
from provguard.watermark import payload as payload_module
from provguard.watermark.payload import (
    MOTHER_BITS,
    PAYLOAD_BITS,
    PayloadCodec,
    PayloadDecision,
    false_positive_probability,
    log_sign_test_tail,
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


def _barely_wrong(codec: PayloadCodec, payload: int, n_wrong: int, seed: int) -> np.ndarray:
    """Confident soft values for the payload, except n_wrong random bits that are wrong, but barely."""
    soft = _soft(codec.encode(payload))
    wrong = np.random.default_rng(seed).choice(codec.n_coded, n_wrong, replace=False)
    soft[wrong] *= -0.05
    return soft


def test_soft_values_outvote_hard_errors() -> None:
    """Confident bits carry the decision where many weak bits are wrong."""
    codec = PayloadCodec(KEY, 512)
    payload = 0xDEADBEEF
    soft = _barely_wrong(codec, payload, 150, seed=5)  # 29% of the hard decisions are wrong
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


def _path_metric(info: np.ndarray, llr: np.ndarray) -> float:
    """Correlation of a path's mother codeword signs with the llr (what the Viterbi decoders maximise)."""
    mother = payload_module._conv_encode(info)
    return float(np.sum((mother.astype(np.float64) * 2 - 1) * llr))


def test_list_viterbi_offers_distinct_paths_best_first_starting_with_viterbis() -> None:
    rng = np.random.default_rng(21)
    for _ in range(5):
        llr = rng.normal(size=MOTHER_BITS)
        paths = list(payload_module._list_viterbi(llr, 16))
        assert len(paths) == 16
        assert np.array_equal(paths[0], payload_module._viterbi(llr))
        assert len({p.tobytes() for p in paths}) == 16
        metrics = [_path_metric(p, llr) for p in paths]
        assert all(a >= b - 1e-9 for a, b in zip(metrics, metrics[1:]))
        # no terminated path outside the list beats its last member: flipping one info bit of the best path
        # gives other terminated paths, none of which may score above the 16th
        best = paths[0]
        for i in range(best.size):
            other = best.copy()
            other[i] ^= 1
            if other.tobytes() not in {p.tobytes() for p in paths}:
                assert _path_metric(other, llr) <= metrics[-1] + 1e-9


def test_list_decoding_finds_weak_marks_that_plain_viterbi_misses() -> None:
    rng = np.random.default_rng(8)
    codec = PayloadCodec(KEY, 644)
    found = {1: 0, 16: 0}
    for _ in range(60):
        payload = int(rng.integers(0, 2**63))
        soft = _soft(codec.encode(payload)) * 0.55 + rng.normal(size=644)  # ~71% of hard decisions right
        for size in found:
            found[size] += codec.decode(soft, fpr=1.0, list_size=size).payload == payload
    assert found[16] >= found[1] + 10, found


def test_sign_test_tail_bounds_exact_tails_of_weighted_random_signs() -> None:
    rng = np.random.default_rng(4)
    n = 14
    signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * n)).reshape(n, -1).T  # all 2**14 sign patterns
    for weights in (np.ones(n), rng.uniform(0.1, 1.0, n), np.r_[5.0, np.ones(n - 1)]):
        sums = np.sort(signs @ weights / np.linalg.norm(weights))
        for z in np.unique(sums[sums > 0]):
            exact = np.mean(sums >= z - 1e-12)
            assert math.log(exact) <= log_sign_test_tail(float(z)) + 1e-12
    # tighter than the Hoeffding bound exp(-z**2 / 2) once the tail matters
    for z in (3.0, 6.0, 11.0):
        assert log_sign_test_tail(z) < -z * z / 2
    assert log_sign_test_tail(0.0) == 0.0 and log_sign_test_tail(-3.0) == 0.0


def test_soft_test_detects_confident_bits_that_the_error_count_cannot() -> None:
    codec = PayloadCodec(KEY, 644)
    payload = 0x5EED
    soft = _barely_wrong(codec, payload, 230, seed=12)  # 36% of the hard decisions wrong
    hard_only = false_positive_probability(644, 230)
    assert hard_only > 1e-6  # the bit-error count alone would not call this marked
    decision = codec.decode(soft)
    assert decision.detected and decision.payload == payload and decision.bit_errors == 230
    assert decision.p_value <= 1e-6
    # Bonferroni over the two tests: never better than twice the better test
    assert decision.p_value >= 2 * math.exp(log_sign_test_tail(float(np.sum(np.abs(soft))) / np.linalg.norm(soft))
                                            + PAYLOAD_BITS * math.log(2)) * 0.999
