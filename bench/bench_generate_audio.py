"""Benchmark the speech reference generator: training time (model card), speed and mel distance on the TEST split.

Needs the corpus (`provguard corpus build`) and the shipped vocoder weights. Nothing is downloaded. Usage:
    .venv/bin/python -m bench.bench_generate_audio --out bench/results/generate_audio.md
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one core, as the model card reports
    os.environ.setdefault(_var, "1")

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import emit, section, table


def _card_fact(card: str, label: str) -> str:
    """The text after '- label:' in the model card, or 'n/a'."""
    found = re.search(rf"^- {re.escape(label)}: (.+)$", card, flags=re.MULTILINE)
    return found.group(1).strip() if found else "n/a"


def _end_to_end(clip: np.ndarray, vocoders: tuple[str, ...]) -> list[list[object]]:
    """Wall time of generate_audio (decode, resynthesise, encode, sign) on one clip, per vocoder."""
    import soundfile as sf

    from provguard.generate.audio import generate_audio
    from provguard.keys import init_dev_credentials

    rows: list[list[object]] = []
    previous = os.environ.get("PROVGUARD_HOME")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["PROVGUARD_HOME"] = str(home)  # throwaway dev credentials, never the user's
        init_dev_credentials(home)
        src = Path(tmp) / "real.wav"
        sf.write(str(src), clip, 16000, subtype="PCM_16")
        seconds = clip.shape[0] / 16000
        for name in vocoders:
            for signed in (False, True):
                out = Path(tmp) / f"{name}-{signed}.wav"
                start = time.perf_counter()
                generate_audio(out, source=src, vocoder=name, no_sign=not signed, force=True)
                wall = time.perf_counter() - start
                rows.append([name, "signed + watermarked" if signed else "unsigned", f"{seconds:.1f}",
                             f"{wall * 1000:.0f}", f"{wall / seconds:.3f}"])
    if previous is None:
        os.environ.pop("PROVGUARD_HOME", None)
    else:
        os.environ["PROVGUARD_HOME"] = previous
    return rows


def _colour(values: np.ndarray) -> np.ndarray:
    """Map [0, 1] to RGB along a dark-blue -> magenta -> yellow ramp (uint8)."""
    stops = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]], float)
    pos = np.clip(values, 0, 1) * (len(stops) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(stops) - 2)
    frac = (pos - lo)[..., None]
    return (stops[lo] * (1 - frac) + stops[lo + 1] * frac).astype(np.uint8)


def render_samples(clip: np.ndarray, name: str, out: Path) -> None:
    """PNG of the log-mel spectrograms of a real clip and of each vocoder's resynthesis, stacked."""
    from PIL import Image, ImageDraw

    from provguard.generate import mel as melfe
    from provguard.generate.audio import VOCODERS, resynthesize, software_agent

    panels = [("real: " + name, clip)]
    panels += [(f"{v} ({software_agent(v)})", resynthesize(clip, 16000, vocoder=v, seed=0)[0]) for v in VOCODERS]
    panels.append(("lpc, pitch +4 semitones", resynthesize(clip, 16000, vocoder="lpc", pitch=4.0, seed=0)[0]))
    panels.append(("neural, pitch +4 semitones", resynthesize(clip, 16000, vocoder="neural", pitch=4.0, seed=0)[0]))
    top = float(melfe.log_mel_db(melfe.log_mel(clip)).max())
    scale_y, scale_x, label_h = 3, 2, 16
    images = []
    for label, wave in panels:
        db = melfe.log_mel_db(melfe.log_mel(wave))[::-1]  # low frequencies at the bottom
        rgb = _colour((db - (top - 80.0)) / 80.0)
        img = Image.fromarray(rgb).resize((rgb.shape[1] * scale_x, rgb.shape[0] * scale_y), Image.NEAREST)
        canvas = Image.new("RGB", (img.width, img.height + label_h), "white")
        canvas.paste(img, (0, label_h))
        ImageDraw.Draw(canvas).text((4, 2), label, fill="black")
        images.append(canvas)
    sheet = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)), "white")
    y = 0
    for img in images:
        sheet.paste(img, (0, y))
        y += img.height
    sheet.save(out, optimize=True)


def run(command: str, per_source: int, corpus_dir: Path | None) -> str:
    """Measure and render the markdown section."""
    import torch

    from provguard.generate.audio import VOCODERS, software_agent
    from provguard.generate.train_audio import (
        DEFAULT_EVAL_SECONDS,
        evaluate_vocoders,
        load_speech_split,
        select_per_source,
    )
    from provguard.generate.vocoder import WEIGHTS_NAME, load_generator, parameter_count
    from provguard.generate.weights_io import weights_path

    torch.set_num_threads(1)
    path = weights_path(WEIGHTS_NAME)
    card = path.with_suffix(".md").read_text("utf-8") if path.with_suffix(".md").exists() else ""
    params = parameter_count(load_generator())
    test = select_per_source(load_speech_split("test", corpus_dir, max_seconds=DEFAULT_EVAL_SECONDS), per_source)
    metrics = evaluate_vocoders(test, seed=0)
    sources = sorted({c.source for c in test})
    quality = table(
        ["vocoder", "softwareAgent", "mel distance mean (dB)", "median (dB)", *sources, "real-time factor (1 thread)"],
        [[v, f"`{software_agent(v)}`", f"{m['mel_distance_db']:.2f}", f"{m['mel_distance_db_median']:.2f}",
          *[f"{m['by_source'].get(s, float('nan')):.2f}" for s in sources], f"{m['real_time_factor']:.3f}"]
         for v, m in metrics.items()],
    )
    longest = max(test, key=lambda c: c.samples.shape[0])
    speed = table(["vocoder", "output", "clip (s)", "wall (ms)", "real-time factor"],
                  _end_to_end(longest.samples, VOCODERS))
    training = table(
        ["weights", "size (MB)", "parameters", "training time", "steps", "training command"],
        [[path.name, f"{path.stat().st_size / 1e6:.2f}", f"{params:,}", _card_fact(card, "training time"),
          _card_fact(card, "steps"), _card_fact(card, "command")]],
    )
    body = (
        f"Neural vocoder training (from the model card, `{path.with_suffix('.md').name}`):\n\n{training}\n\n"
        f"Resynthesis of {len(test)} corpus **test-split** clips (up to {per_source} per source, cut to "
        f"{DEFAULT_EVAL_SECONDS:g} s, {metrics[VOCODERS[0]]['seconds']:.0f} s in all). Mel distance: mean absolute "
        "80-band log-mel difference to the real clip, dB, over frames within 60 dB of the loudest.\n\n"
        f"{quality}\n\nEnd to end (`generate_audio`: decode, resample, resynthesise, encode 16-bit WAV, sign) on the "
        f"longest of those clips ({longest.name}):\n\n{speed}\n"
    )
    return section("Reference generator: speech resynthesis (vocoders)", command, body)


def main() -> int:
    """Parse arguments, run, write --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-source", type=int, default=8, help="test clips per corpus source (default 8)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus directory (default: the data dir's)")
    parser.add_argument("--samples-png", type=Path, default=None,
                        help="also draw the mel spectrograms of one test clip and its resyntheses to this PNG")
    args = parser.parse_args()
    if args.samples_png is not None:
        from provguard.generate.train_audio import load_speech_split

        test = [c for c in load_speech_split("test", args.corpus, max_seconds=6.0) if c.samples.shape[0] >= 3 * 16000]
        pick = next((c for c in test if (c.original_rate or 0) >= 16000), test[0])
        render_samples(pick.samples, f"{pick.name} (corpus test split)", args.samples_png)
    command = "python -m bench.bench_generate_audio " + " ".join(sys.argv[1:])
    text = run(command, args.per_source, args.corpus)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
