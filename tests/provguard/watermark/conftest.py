"""Fixtures shared by the watermark tests."""

from __future__ import annotations

import numpy as np
import pytest

from provguard.watermark.payload import PayloadCodec, PayloadDecision


@pytest.fixture
def claimed_trials(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The n_trials of every PayloadCodec.decode call made while the test runs, in call order."""
    claimed: list[int] = []
    decode = PayloadCodec.decode

    def counting_decode(self: PayloadCodec, soft: np.ndarray, fpr: float = 1e-6, n_trials: int = 1,
                        **kw: int) -> PayloadDecision:
        claimed.append(n_trials)
        return decode(self, soft, fpr, n_trials, **kw)

    monkeypatch.setattr(PayloadCodec, "decode", counting_decode)
    return claimed
