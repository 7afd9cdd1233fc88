"""Watermark payload codec: CRC + convolutional code, keyed scrambling, CRC-aided list Viterbi, honest p-values.

Channel layout for a 64-bit payload:

* 64 payload bits + 16-bit CRC (rejects wrong Viterbi paths) + 6 zero tail bits,
* a rate-1/4, constraint-length-7 convolutional code (generators 117, 127, 155, 171 octal, d_free 20),
* the 344 mother bits repeated cyclically (or punctured evenly) to fill the carrier's ``n_coded`` bits,
* a key-derived XOR mask and permutation over the ``n_coded`` channel bits.

Decoding is soft Viterbi; when the best path fails its CRC, a list Viterbi decoder (the LIST_SIZE best paths
into the terminating state) offers the next-best paths, and the first whose CRC checks is taken.  On weak marks
this finds payloads plain Viterbi misses (BENCHMARKS.md: 3-8 s of speech after 20 dB white noise, 44% -> 60%).

A decoded payload is judged by two tests, Bonferroni over both, each a union bound over ALL 2**64 codewords times
the number of hypotheses the caller tried:

* the hard test: the chance that bits independent of the key land within ``bit_errors`` of a codeword (binomial);
* the soft test: the correlation of the soft values with the codeword's signs.  Without the key's mark, the keyed
  scrambling makes those signs fair coins, so the correlation is a weighted sum of random signs, whose tail
  log_sign_test_tail bounds.  Confident bits count for more than in a bare error count.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from provguard.errors import WatermarkError

PAYLOAD_BITS = 64
CRC_BITS = 16
_K = 7  # constraint length
_N_STATES = 1 << (_K - 1)
_GENERATORS = (0o117, 0o127, 0o155, 0o171)
_INFO_BITS = PAYLOAD_BITS + CRC_BITS
_STEPS = _INFO_BITS + _K - 1
MOTHER_BITS = _STEPS * len(_GENERATORS)
MIN_CODED_BITS = 128
DEFAULT_FPR = 1e-6
#: Paths the list Viterbi decoder offers to the CRC when the best one fails it.
LIST_SIZE = 16


@dataclass(frozen=True)
class PayloadDecision:
    """Outcome of decoding: whether a mark was found, its payload, and the evidence behind it."""

    detected: bool
    payload: int | None
    bit_errors: int
    n_bits: int
    p_value: float

    def carries(self, payload: int) -> bool:
        """True when this decision detected exactly `payload`."""
        return self.detected and self.payload == payload

    def weak_mark_message(self) -> str:
        """Explain, in one line, a fresh mark that this read-back did not recover."""
        return (
            f"the watermark does not read back even from the untouched output ({self.bit_errors} of {self.n_bits} "
            "coded bits read wrong): this content cannot carry it reliably (near-silent or very short audio, a "
            "picture that is busy texture everywhere), so a re-encoded copy may not be traced back"
        )


def false_positive_probability(
    n_bits: int, bit_errors: int, codebook_size: float = 2.0**PAYLOAD_BITS, n_trials: int = 1
) -> float:
    """Bound on P(key-independent bits fall within bit_errors of any codeword, in any trial)."""
    if n_bits <= 0:
        return 1.0
    from scipy.stats import binom  # scipy.stats is slow to import; keep it off the import path

    log_p = float(binom.logcdf(bit_errors, n_bits, 0.5))
    log_p += math.log(codebook_size) + math.log(max(1, n_trials))
    return float(math.exp(min(0.0, log_p)))


#: Smallest c with P(sum a_i e_i >= x) <= c P(N(0, 1) >= x) for fair random signs e_i and sum a_i**2 <= 1
#: (Bentkus and Dzindzalieta, Bernoulli 21(2), 2015): c = 1 / (4 P(N(0, 1) >= sqrt 2)).
RADEMACHER_TAIL_CONSTANT = 3.179  # 3.17866 rounded up


def log_sign_test_tail(z: float) -> float:
    """Log of a bound on P(sum a_i e_i >= z * ||a||) for fair independent random signs e_i (any weights a)."""
    from scipy.special import log_ndtr

    return min(0.0, math.log(RADEMACHER_TAIL_CONSTANT) + float(log_ndtr(-z)))


def _sign_test_p_value(soft: np.ndarray, codeword: np.ndarray, n_trials: int) -> float:
    """Soft test: bound on P(key-independent soft values correlate this well with ANY codeword, in any trial)."""
    sign = codeword.astype(np.float64) * 2.0 - 1.0
    norm = math.sqrt(float(np.sum(soft * soft)))
    if norm == 0.0:
        return 1.0
    log_p = log_sign_test_tail(float(np.sum(soft * sign)) / norm)
    log_p += PAYLOAD_BITS * math.log(2.0) + math.log(max(1, n_trials))
    return float(math.exp(min(0.0, log_p)))


def _key_stream(key: bytes, label: bytes, n_bytes: int) -> np.ndarray:
    """Deterministic key-derived bytes (SHAKE-256), independent of numpy's RNG versions."""
    return np.frombuffer(hashlib.shake_256(b"provguard-wm/" + label + b"/" + key).digest(n_bytes), np.uint8)


def keyed_permutation(key: bytes, label: bytes, n: int) -> np.ndarray:
    """A key-derived permutation of range(n)."""
    sort_keys = _key_stream(key, label, 8 * n).view("<u8")
    return np.argsort(sort_keys, kind="stable")


def keyed_bits(key: bytes, label: bytes, n: int) -> np.ndarray:
    """n key-derived 0/1 bits (uint8)."""
    return np.unpackbits(_key_stream(key, label, (n + 7) // 8))[:n]


def _crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT-FALSE of a bit array, as 16 bits (MSB first)."""
    reg = 0xFFFF
    for b in bits.tolist():
        top = ((reg >> 15) & 1) ^ int(b)
        reg = (reg << 1) & 0xFFFF
        if top:
            reg ^= 0x1021
    return np.array([(reg >> (15 - i)) & 1 for i in range(16)], dtype=np.uint8)


def _int_to_bits(value: int, n: int) -> np.ndarray:
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def _bits_to_int(bits: np.ndarray) -> int:
    out = 0
    for b in bits.tolist():
        out = (out << 1) | int(b)
    return out


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    out = np.zeros_like(x)
    while np.any(x):
        out ^= x & 1
        x >>= 1
    return out


# Output bits of every 7-bit register value r = (previous 6-bit state << 1) | input bit.
_REG = np.arange(1 << _K)
_OUT_BITS = np.stack([_parity(_REG & g) for g in _GENERATORS], axis=1).astype(np.uint8)  # (128, 4)
_OUT_SIGN = 2.0 * _OUT_BITS.astype(np.float64) - 1.0
_NS = np.arange(_N_STATES)


def _conv_encode(info: np.ndarray) -> np.ndarray:
    """Terminated convolutional encoding of info bits -> mother codeword bits."""
    bits = np.concatenate([info.astype(np.int64), np.zeros(_K - 1, np.int64)])
    state = 0
    regs = np.empty(bits.size, np.int64)
    for i, b in enumerate(bits.tolist()):
        reg = (state << 1) | b
        regs[i] = reg
        state = reg & (_N_STATES - 1)
    return _OUT_BITS[regs].reshape(-1)


def _viterbi(llr: np.ndarray) -> np.ndarray:
    """Soft-decision Viterbi decoding (positive llr means bit 1) of a terminated codeword -> info bits."""
    n_out = len(_GENERATORS)
    branch = llr.reshape(_STEPS, n_out) @ _OUT_SIGN.T  # (steps, 128): metric of each register value
    metric = np.full(_N_STATES, -np.inf)
    metric[0] = 0.0
    decisions = np.empty((_STEPS, _N_STATES), dtype=np.uint8)
    pred0 = _NS >> 1
    pred1 = pred0 | (_N_STATES >> 1)
    for k in range(_STEPS):
        m0 = metric[pred0] + branch[k, _NS]  # register (0 << 6) | ns
        m1 = metric[pred1] + branch[k, _NS | _N_STATES]  # register (1 << 6) | ns
        choose1 = m1 > m0
        decisions[k] = choose1
        metric = np.where(choose1, m1, m0)
    state = 0
    out = np.empty(_STEPS, np.uint8)
    for k in range(_STEPS - 1, -1, -1):
        out[k] = state & 1
        state = (state >> 1) | (int(decisions[k, state]) << (_K - 2))
    return out[:_INFO_BITS]


def _list_viterbi(llr: np.ndarray, list_size: int) -> np.ndarray:
    """Info bits (one row per path) of the list_size best terminated paths (parallel list Viterbi), best first."""
    n_out = len(_GENERATORS)
    branch = llr.reshape(_STEPS, n_out) @ _OUT_SIGN.T
    size = int(list_size)
    metric = np.full((_N_STATES, size), -np.inf)
    metric[0, 0] = 0.0
    pred = np.stack([_NS >> 1, (_NS >> 1) | (_N_STATES >> 1)], axis=1)  # (state, came_from) -> previous state
    step_gain = np.stack([branch[:, _NS], branch[:, _NS | _N_STATES]], axis=2)  # (steps, state, came_from)
    rows = np.arange(_N_STATES)[:, None]
    back = np.empty((_STEPS, _N_STATES, size), dtype=np.int32)  # index into the 2*size candidates
    for k in range(_STEPS):
        cand = (metric[pred] + step_gain[k][:, :, None]).reshape(_N_STATES, 2 * size)
        keep = np.argsort(cand, axis=1)[:, size:]  # the best `size` of the 2*size candidates
        metric = cand[rows, keep]
        back[k] = keep
    ranks = np.argsort(-metric[0], kind="stable")
    ranks = ranks[np.isfinite(metric[0, ranks])]
    state = np.zeros(ranks.size, np.int64)
    slot = ranks.astype(np.int64)
    out = np.empty((ranks.size, _STEPS), np.uint8)
    for k in range(_STEPS - 1, -1, -1):  # trace every path back at once
        out[:, k] = state & 1
        came_from, slot = np.divmod(back[k, state, slot].astype(np.int64), size)
        state = (state >> 1) | (came_from << (_K - 2))
    return out[:, :_INFO_BITS]


def _crc_checks(info: np.ndarray) -> bool:
    """True when the info bits' last CRC_BITS are the CRC of the payload bits before them."""
    return bool(np.array_equal(info[PAYLOAD_BITS:], _crc16(info[:PAYLOAD_BITS])))


class PayloadCodec:
    """Maps a 64-bit payload to n_coded keyed channel bits and back, with an honest false-positive bound."""

    def __init__(self, key: bytes, n_coded: int) -> None:
        """Build the keyed mask and permutation for a carrier of n_coded bits."""
        if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
            raise WatermarkError("the watermark key must be at least 16 bytes")
        if n_coded < MIN_CODED_BITS:
            raise WatermarkError(f"the carrier must provide at least {MIN_CODED_BITS} bits, not {n_coded}")
        self.n_coded = int(n_coded)
        key = bytes(key)
        label = f"payload/{n_coded}".encode()
        self._mask = keyed_bits(key, label + b"/mask", n_coded)
        perm = keyed_permutation(key, label + b"/perm", n_coded)
        if n_coded >= MOTHER_BITS:
            base = np.arange(n_coded) % MOTHER_BITS
        else:
            base = (np.arange(n_coded) * MOTHER_BITS) // n_coded
        self._source = base[perm]  # channel bit i carries mother bit _source[i]
        self._sign = 1.0 - 2.0 * self._mask.astype(np.float64)

    @staticmethod
    def check_payload(payload: int) -> None:
        """Raise WatermarkError unless payload is an integer in [0, 2**64)."""
        if isinstance(payload, bool) or not isinstance(payload, (int, np.integer)):
            raise WatermarkError(f"the payload must be an integer in [0, 2**{PAYLOAD_BITS})")
        if not 0 <= int(payload) < 2**PAYLOAD_BITS:
            raise WatermarkError(f"the payload must be an integer in [0, 2**{PAYLOAD_BITS})")

    def _info_bits(self, payload: int) -> np.ndarray:
        self.check_payload(payload)
        bits = _int_to_bits(int(payload), PAYLOAD_BITS)
        return np.concatenate([bits, _crc16(bits)])

    def encode(self, payload: int) -> np.ndarray:
        """Channel bits (0/1 uint8, length n_coded) for a payload."""
        return self._channel_bits(self._info_bits(payload))

    def _any_codeword_can_pass(self, soft: np.ndarray, best_info: np.ndarray, fpr: float, n_trials: int) -> bool:
        """False when no codeword at all can reach fpr: neither the best-correlated one nor the fewest-errors one.

        best_info is the soft Viterbi path (the codeword correlating best with soft); a hard-decision Viterbi finds the
        codeword with the fewest bit errors.  Every path the list decoder could offer scores no better on either test,
        so when both bests fail, the list is not worth decoding (unmarked content: most reads).
        """
        hard = np.sign(soft)
        fewest = _viterbi(np.bincount(self._source, weights=hard * self._sign, minlength=MOTHER_BITS))
        errors = int(np.count_nonzero(((hard > 0) != (self._channel_bits(fewest) == 1)) & (hard != 0)))
        p_hard = false_positive_probability(int(np.count_nonzero(hard)), errors, n_trials=n_trials)
        p_soft = _sign_test_p_value(soft, self._channel_bits(best_info), n_trials)
        return 2.0 * min(p_hard, p_soft) <= fpr

    def _channel_bits(self, info: np.ndarray) -> np.ndarray:
        """Channel bits of any info-bit path (its CRC need not check)."""
        return _conv_encode(info)[self._source] ^ self._mask

    def decode(
        self, soft: np.ndarray, fpr: float = DEFAULT_FPR, n_trials: int = 1, list_size: int = LIST_SIZE
    ) -> PayloadDecision:
        """Decode soft channel values (positive = 1, 0 = erased); n_trials = hypotheses the caller tried.

        The p-value bounds every codeword at once, so offering the CRC more candidate paths (list_size) finds
        more weak marks without raising the false-positive bound.
        """
        soft = np.asarray(soft, dtype=np.float64).reshape(-1)
        if soft.size != self.n_coded:
            raise WatermarkError(f"expected {self.n_coded} soft values, got {soft.size}")
        soft = np.where(np.isfinite(soft), soft, 0.0)
        known = soft != 0.0
        n_bits = int(known.sum())
        if n_bits == 0:
            return PayloadDecision(False, None, 0, 0, 1.0)
        llr = np.bincount(self._source, weights=soft * self._sign, minlength=MOTHER_BITS)
        info = _viterbi(llr)
        if not _crc_checks(info) and list_size > 1 and self._any_codeword_can_pass(soft, info, fpr, n_trials):
            info = next((path for path in _list_viterbi(llr, list_size) if _crc_checks(path)), info)
        payload = _bits_to_int(info[:PAYLOAD_BITS])
        expected = self.encode(payload)
        hard = (soft > 0).astype(np.uint8)
        errors = int(np.count_nonzero((hard != expected) & known))
        p_hard = false_positive_probability(n_bits, errors, n_trials=n_trials)
        p_value = min(1.0, 2.0 * min(p_hard, _sign_test_p_value(soft, expected, n_trials)))
        detected = _crc_checks(info) and p_value <= fpr
        return PayloadDecision(detected, payload if detected else None, errors, n_bits, p_value)
