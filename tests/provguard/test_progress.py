"""Tests for provguard.progress: the stderr progress line."""

from __future__ import annotations

import io

from provguard.progress import Progress


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_draws_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    bar = Progress("scoring", total=50, stream=quiet)
    bar.advance(50)
    bar.close()
    assert quiet.getvalue() == ""


def test_callback_form_learns_the_total_and_finishes_the_line() -> None:
    stream = _Terminal()
    bar = Progress("watermarking video frames", stream=stream)
    for done in range(1, 31):
        bar.on_item(done, 30)
    bar.close()
    text = stream.getvalue()
    assert text.endswith("\rwatermarking video frames: 30/30\n") and bar.done == 30


def test_a_short_batch_draws_nothing() -> None:
    stream = _Terminal()
    bar = Progress("verifying", total=3, stream=stream)
    bar.advance(3)
    bar.close()
    assert stream.getvalue() == ""
