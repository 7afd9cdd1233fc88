"""Benchmark the audio LCNN on speakers it never heard: retrain without a third of the corpus speakers, test on them.

The corpus splits speech by source file, so the shipped detector's test utterances are unseen but its speakers
are not (KLettres has one speaker per language; Asterisk is one speaker). Here a deterministic third of the
KLettres speakers that occur in the test split is held out: the LCNN is retrained (LOO_STEPS steps, the
leave-one-family-out recipe) on the train split without any clip of those speakers, and tested on the test clips of
those speakers and their fakes in every family. A control run with the same recipe on the whole train split
shows what holding the speakers out costs. Usage:
    python -m bench.bench_detect_audio_speakers --out FILE
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.bench_detect_audio import LOO_STEPS, _fmt
from bench.common import emit, section, table

#: Share of the test split's KLettres speakers held out of training.
HELD_OUT_SHARE = 1 / 3


def speakers_by_clip(corpus: Path | None) -> dict[str, str | None]:
    """Speaker id of every corpus speech clip, by clip name."""
    from detectors.audio.data import MAX_CLIP_SECONDS
    from provguard.generate.train_audio import load_speech_split

    out: dict[str, str | None] = {}
    for split in ("train", "val", "test"):
        for clip in load_speech_split(split, corpus, max_seconds=MAX_CLIP_SECONDS):
            out[clip.name] = clip.speaker
    return out


def held_out_speakers(test_speakers: set[str], seed: int) -> list[str]:
    """A deterministic third of the KLettres speakers found in the test split."""
    pool = sorted(s for s in test_speakers if s.startswith("klettres:"))
    pool.sort(key=lambda s: zlib.crc32(f"{s}|{seed}".encode()))
    return sorted(pool[: max(1, round(len(pool) * HELD_OUT_SHARE))])


def run(command: str, *, seed: int = 0, corpus: Path | None = None,
        say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> str:
    """Run the benchmark and return its markdown section."""
    import torch

    from detectors.audio import scoring
    from detectors.audio.data import FAMILIES, load_split
    from detectors.audio.lcnn import LcnnDetector
    from detectors.audio.train import FRONTEND, FeatureSet, featurize, per_family, raw_scores, train_lcnn

    torch.set_num_threads(1)
    speaker = speakers_by_clip(corpus)
    test = load_split("test", seed=seed, corpus_dir=corpus, progress=say)
    train = load_split("train", seed=seed, corpus_dir=corpus, progress=say)
    held = held_out_speakers({speaker.get(u.name) or "" for u in test}, seed)
    test_h = [u for u in test if speaker.get(u.name) in held]
    train_all_fe = featurize(train, seed=seed, frontend=FRONTEND)
    keep = [speaker.get(u.name) not in held for u in train for _ in range(len(train_all_fe.feats) // len(train))]
    n_dropped = sum(1 for u in train if u.label == 0 and speaker.get(u.name) in held)
    labels = np.array([u.label for u in test_h])
    fams = [u.family for u in test_h]
    feats = [scoring.features(u.samples, FRONTEND) for u in test_h]
    rows = []
    for name, data in (("without the held-out speakers", train_all_fe.subset(keep)), ("control: every train speaker", train_all_fe)):
        say(f"speaker hold-out: training {name}")
        net, _ = train_lcnn(data, seed=seed, steps=LOO_STEPS, frontend=FRONTEND)
        det = LcnnDetector(device="cpu", net=net, calibrator=object(), frontend=FRONTEND)
        raw = raw_scores(det.raw_features, FeatureSet(feats, labels, fams, ["clean"] * len(fams)))
        pf = per_family(labels, fams, raw)
        rows.append([name, *(_fmt(pf[f]) for f in ("all", *FAMILIES))])
    n_real = int(np.sum(labels == 0))
    body = [
        (f"Held-out speakers ({len(held)} of the test split's KLettres speakers, one per language): "
         f"{', '.join(h.split(':', 1)[1] for h in held)}. Training drops their {n_dropped} real train clips (and "
         f"those clips' {n_dropped * len(FAMILIES)} fakes); the test set is their {n_real} real test clips and {len(test_h) - n_real} fakes, clean. "
         f"LCNN, {LOO_STEPS} steps (the shipped model trains 2000), the shipped front-end ({FRONTEND}). Cells: EER % / AUC."),
        "",
        table(["LCNN trained", "all fakes", *FAMILIES], rows),
    ]
    return section("Audio detector on unseen speakers", command, "\n".join(body))


def main() -> int:
    """Parse arguments, run, write --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", type=Path, default=None, help="corpus directory (default: the data dir's)")
    args = parser.parse_args()
    text = run("python -m bench.bench_detect_audio_speakers --out FILE", seed=args.seed, corpus=args.corpus)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
