"""`make bench`: run every benchmark and write BENCHMARKS.md."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import machine, today

#: In-process benchmarks: module -> its run(command) returns a markdown section.
IN_PROCESS = ["bench.bench_c2pa"]
#: Script benchmarks: module run with --out FILE, which they fill with markdown.
SCRIPTS = [
    "bench.bench_watermark_image",
    "bench.bench_watermark_audio",
    "bench.bench_watermark_video",
    "bench.bench_generate_image",
    "bench.bench_generate_audio",
    "bench.bench_detect_image",
    "bench.bench_detect_audio",
    "bench.bench_detect_audio_speakers",
]


def _script_section(module: str) -> str | None:
    """Run a script benchmark in a subprocess and return what it wrote, or None when it is absent."""
    path = Path(__file__).resolve().parent / (module.split(".")[-1] + ".py")
    if not path.exists():
        return None
    with tempfile.NamedTemporaryFile(suffix=".md", delete=False) as tmp:
        out = Path(tmp.name)
    print(f"bench: running {module} ...", file=sys.stderr, flush=True)
    proc = subprocess.run([sys.executable, "-m", module, "--out", str(out)], cwd=path.parents[1])
    if proc.returncode != 0:
        return f"## {module}\n\nFAILED with exit code {proc.returncode} on {today()} ({machine()}).\n"
    return out.read_text()


def _split_sections(text: str) -> dict[str, str]:
    """Split a BENCHMARKS.md body into its '## ' sections, keyed by heading line."""
    sections: dict[str, str] = {}
    current = None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            current = line.strip()
            sections[current] = ""
        if current is not None:
            sections[current] += line
    return sections


def _merge(existing: str, fresh: list[str]) -> list[str]:
    """Keep existing sections, replacing those that were just re-run and appending new ones."""
    merged = _split_sections(existing)
    for text in fresh:
        heading = text.splitlines()[0].strip() if text.strip() else ""
        merged[heading] = text if text.endswith("\n") else text + "\n"
    return list(merged.values())


def main() -> int:
    """Run the benchmarks and write the report (with --only, other sections of the file are kept)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--only", nargs="*", help="run only these modules (e.g. bench.bench_c2pa)")
    args = parser.parse_args()
    sections = []
    for module in IN_PROCESS:
        if args.only and module not in args.only:
            continue
        print(f"bench: running {module} ...", file=sys.stderr, flush=True)
        sections.append(importlib.import_module(module).run(f"make bench (python -m {module})"))
    for module in SCRIPTS:
        if args.only and module not in args.only:
            continue
        text = _script_section(module)
        if text:
            sections.append(text)
    if args.only and args.out.exists():
        sections = _merge(args.out.read_text(), sections)
    header = (
        "# provguard benchmarks\n\nWritten by `make bench` (`python -m bench.run`); every figure below was measured "
        "by the command named beside it, on the machine and at the date given. Do not edit by hand.\n\n"
    )
    args.out.write_text(header + "\n".join(s.rstrip("\n") + "\n" for s in sections))
    print(f"bench: wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
