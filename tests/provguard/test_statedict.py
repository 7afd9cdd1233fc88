"""State dicts for shipping: float16 on disk, float32 back, clear errors on damaged bytes."""

from __future__ import annotations

import io

import pytest
import torch

from provguard.statedict import decode_state, encode_half


def test_round_trip_stores_floats_as_half_and_returns_float32() -> None:
    state = {"w": torch.linspace(-1, 1, 7), "steps": torch.tensor([3], dtype=torch.int64), "name": "x"}
    raw = encode_half(state)
    stored = torch.load(io.BytesIO(raw), weights_only=True)
    assert stored["w"].dtype == torch.float16 and stored["steps"].dtype == torch.int64
    back = decode_state(raw)
    assert back["w"].dtype == torch.float32 and back["name"] == "x"
    assert torch.allclose(back["w"], state["w"], atol=1e-3)
    assert torch.equal(back["steps"], state["steps"])


def test_damaged_bytes_and_non_dicts_are_refused() -> None:
    raw = encode_half({"w": torch.ones(4)})
    with pytest.raises(ValueError, match="cannot be read"):
        decode_state(raw[: len(raw) // 2])
    buf = io.BytesIO()
    torch.save([torch.ones(2)], buf)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        decode_state(buf.getvalue())
