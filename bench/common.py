"""Shared helpers for benchmarks: machine description, timing and markdown tables."""

from __future__ import annotations

import datetime as dt
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path


def machine() -> str:
    """Describe the machine a benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cores} cores ({cpu}), Python {platform.python_version()}"


def today() -> str:
    """Return today's date (UTC) in ISO form."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def median_ms(fn: Callable[[], object], repeats: int = 30, warmup: int = 3) -> float:
    """Return the median wall time of fn in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def table(header: list[str], rows: list[list[object]]) -> str:
    """Render a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def section(title: str, command: str, body: str) -> str:
    """Wrap a benchmark's body with its command, machine and date."""
    return f"## {title}\n\n- command: `{command}`\n- machine: {machine()}\n- date: {today()}\n\n{body}\n"


def shown_command(module: str, argv: list[str] | None) -> str:
    """The command line a benchmark reports, with the runner's temp --out path shown as FILE."""
    shown = list(sys.argv[1:] if argv is None else argv)
    if "--out" in shown[:-1]:  # the runner's temp file says nothing; name the flag's meaning instead
        shown[shown.index("--out") + 1] = "FILE"
    return " ".join([f"python -m {module}", *shown])


def emit(text: str, out: Path | None) -> None:
    """Print a benchmark's markdown and write it to out when given."""
    sys.stdout.write(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
