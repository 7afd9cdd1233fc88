"""Benchmark the audio spoof detectors (LFCC-LCNN and the LFCC-GMM baseline) on the corpus test split.

Real speech: a seeded subsample of the corpus test split (``provguard corpus build``), each clip cut to 4 s; fakes:
its resyntheses by the reference generator in every family (neural, Griffin-Lim, LPC, pitch-shifted), cached under
the data dir.  Neither detector saw these clips.  Conditions apply to both classes: clean, MP3 128 kb/s, 8 kHz
telephony (resampled through 8 kHz) and white noise at 20 dB SNR.  The leave-one-family-out table retrains both
detectors (shorter LCNN runs) without one family and tests on it.  Writes DET/ROC plots to docs/.  Usage:
    python -m bench.bench_detect_audio --out FILE
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.common import emit, section, table

DOCS = Path(__file__).resolve().parents[1] / "docs"
CONDITIONS = ("clean", "mp3 128k", "8 kHz telephony", "noise 20 dB")
MODELS = ("audio-lcnn", "audio-lfcc-gmm")
#: LCNN steps of each leave-one-family-out run (the shipped model trains longer).
LOO_STEPS = 600


def transform(x: np.ndarray, condition: str, rng: np.random.Generator) -> np.ndarray:
    """Apply one bench condition to 16 kHz audio."""
    from detectors.audio.augment import add_noise, mp3_roundtrip, through_rate

    if condition == "clean":
        return x
    if condition == "mp3 128k":
        return mp3_roundtrip(x, 16000, 128_000)
    if condition == "8 kHz telephony":
        return through_rate(x, 8000)
    if condition == "noise 20 dB":
        return add_noise(x, 20.0, rng)
    raise ValueError(condition)


def _fmt(m: dict) -> str:
    """EER % / AUC cell."""
    return f"{m['eer'] * 100:.2f} / {m['auc']:.4f}"


def score_condition(utts: list, condition: str, dets: dict) -> dict[str, np.ndarray]:
    """Raw utterance scores of every detector under one condition."""
    from detectors.audio import scoring

    rng = np.random.default_rng(20261124)
    out: dict[str, list[float]] = {n: [] for n in dets}
    for u in utts:
        y = transform(u.samples, condition, rng)
        cache: dict[str, np.ndarray] = {}
        for name, det in dets.items():
            fe = getattr(det, "frontend", "lfcc")
            if fe not in cache:
                cache[fe] = scoring.features(y, fe)
            out[name].append(det.raw_features(cache[fe])[0])
    return {n: np.asarray(v) for n, v in out.items()}


def speed(det, seconds: float, samples: np.ndarray, threads: int = 2) -> float:
    """Times real time of det.score on a clip (median of 3), with `threads` torch threads."""
    import torch

    torch.set_num_threads(threads)
    det.score((samples, 16000))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        det.score((samples, 16000))
        times.append(time.perf_counter() - t)
    torch.set_num_threads(1)
    return seconds / statistics.median(times)


def splice_rows(test_utts: list, dets: dict) -> list[list[str]]:
    """Real clip then a fake of the same clip's speech: window accuracy and how often the fake half ranks above."""
    from detectors.audio.data import FAMILIES

    reals = {u.name: u for u in test_utts if u.label == 0}
    rows = []
    for fam in FAMILIES:
        fakes = [u for u in test_utts if u.family == fam and reals[u.name].samples.shape[0] >= 2 * 16000]
        for name, det in dets.items():
            correct = total = separated = 0
            for fake in fakes:
                real = reals[fake.name].samples
                cut = real.shape[0] / 16000
                res = det.score((np.concatenate([real, fake.samples]), 16000))
                first = [r["score"] for r in res.regions if r["end"] <= cut]
                second = [r["score"] for r in res.regions if r["start"] >= cut]
                correct += sum(p < 0.5 for p in first) + sum(p >= 0.5 for p in second)
                total += len(first) + len(second)
                separated += bool(first and second and max(first) < min(second))
            rows.append([fam, name, str(len(fakes)), f"{correct / max(1, total):.3f}", f"{separated / max(1, len(fakes)):.3f}"])
    return rows


def leave_one_out(train_utts: list, test_utts: list, test_raw_feats: dict, seed: int, say: Callable[[str], None]) -> list:
    """Train both detectors without each family; EER/AUC on the held-out family and on the seen ones (clean test)."""
    from detectors.audio.baselines import train_gmm_pair
    from detectors.audio.data import FAMILIES
    from detectors.audio.lcnn import LcnnDetector
    from detectors.audio.train import featurize, per_family, raw_scores, train_lcnn

    rows = []
    frontend = test_raw_feats["frontend"]
    train_fe = featurize(train_utts, seed=seed, frontend=frontend)
    train_lf = train_fe if frontend == "lfcc" else featurize(train_utts, seed=seed, frontend="lfcc")
    labels = np.array([u.label for u in test_utts])
    fams = [u.family for u in test_utts]
    for held in FAMILIES:
        say(f"leave-one-out: training without {held}")
        keep = [f != held for f in train_fe.families]
        net, _ = train_lcnn(train_fe.subset(keep), seed=seed, steps=LOO_STEPS, frontend=frontend)
        lcnn = LcnnDetector(device="cpu", net=net, calibrator=object(), frontend=frontend)
        sub = train_lf.subset(keep)
        pair = train_gmm_pair([f for f, y in zip(sub.feats, sub.labels) if y == 0],
                              [f for f, y in zip(sub.feats, sub.labels) if y == 1], seed)
        res = {}
        for name, scorer, feats in (("lcnn", lcnn.raw_features, test_raw_feats["lcnn"]), ("gmm", pair.raw, test_raw_feats["lfcc"])):
            from detectors.audio.train import FeatureSet

            raw = raw_scores(scorer, FeatureSet(feats, labels, fams, ["clean"] * len(fams)))
            pf = per_family(labels, fams, raw)
            seen = np.array([f != held for f in fams])
            res[name] = (pf[held], per_family(labels[seen], [f for f, s in zip(fams, seen) if s], raw[seen])["all"])
        rows.append([held, _fmt(res["lcnn"][0]), _fmt(res["lcnn"][1]), _fmt(res["gmm"][0]), _fmt(res["gmm"][1])])
    return rows


def run(command: str, *, seed: int = 0, loo: bool = True, corpus: Path | None = None,
        say: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> str:
    """Run the benchmark and return its markdown section."""
    import torch

    import detectors
    from detectors.audio import scoring
    from detectors.audio.data import FAMILIES, load_split
    from detectors.audio.train import per_family
    from detectors.calibration import Calibrator
    from detectors.metrics import write_det_png, write_roc_png
    from detectors.weights import load_json

    torch.set_num_threads(1)
    dets = {name: detectors.load(name, device="cpu") for name in MODELS}
    for det in dets.values():
        det._load()
    cals = {n: Calibrator.from_dict(load_json(f"{n}.json")["calibration"]) for n in MODELS}
    test = load_split("test", seed=seed, corpus_dir=corpus, progress=say)
    labels = np.array([u.label for u in test])
    fams = [u.family for u in test]
    n_real = int(np.sum(labels == 0))
    say(f"test split: {n_real} real clips, {len(test) - n_real} fakes")
    scores: dict[str, dict[str, np.ndarray]] = {}
    for cond in CONDITIONS:
        say(f"scoring condition {cond}")
        scores[cond] = score_condition(test, cond, dets)

    rows = []
    summary_rows = []
    for cond in CONDITIONS:
        pf = {n: per_family(labels, fams, scores[cond][n], cals[n]) for n in MODELS}
        for fam in ("all", *FAMILIES):
            rows.append([cond, fam, _fmt(pf["audio-lcnn"][fam]), _fmt(pf["audio-lfcc-gmm"][fam])])
        summary_rows.append([cond, f"{pf['audio-lcnn']['all']['accuracy']:.3f}", f"{pf['audio-lfcc-gmm']['all']['accuracy']:.3f}",
                             f"{max(pf['audio-lcnn'][f]['eer'] for f in FAMILIES) * 100:.2f}",
                             f"{max(pf['audio-lfcc-gmm'][f]['eer'] for f in FAMILIES) * 100:.2f}"])

    DOCS.mkdir(exist_ok=True)
    curves = {f"{n} ({c})": (labels, scores[c][n]) for n in MODELS for c in ("clean", "8 kHz telephony", "mp3 128k")}
    det_png = write_det_png(DOCS / "detect_audio_det.png", curves, "Audio detectors, corpus test split: DET")
    roc_png = write_roc_png(DOCS / "detect_audio_roc.png", curves, "Audio detectors, corpus test split: ROC")

    say("splices")
    splices = splice_rows(test, dets)
    speech = np.concatenate([u.samples for u in test if u.label == 0])[: 60 * 16000]
    speed_rows = [[n, f"{speed(dets[n], speech.shape[0] / 16000, speech):.0f}x"] for n in MODELS]

    body = [
        (f"Test split: {n_real} real clips (corpus test split, seeded subsample, <= 4 s each) and "
         f"{len(test) - n_real} fakes ({', '.join(FAMILIES)}: {n_real} each). Cells: EER % / AUC of the utterance "
         "score (real vs that family; `all` = every fake). Conditions are applied to both classes."),
        "",
        table(["condition", "fakes", "audio-lcnn EER % / AUC", "audio-lfcc-gmm EER % / AUC"], rows),
        "",
        "Accuracy at the calibrated 0.5 threshold (all families), and the worst per-family EER:",
        "",
        table(["condition", "lcnn accuracy", "gmm accuracy", "lcnn worst EER %", "gmm worst EER %"], summary_rows),
        "",
        f"Plots: `docs/{det_png.name}`, `docs/{roc_png.name}`.",
        "",
        ("Splices: each real test clip of at least 2 s followed by a fake of the same speech (per family). Window "
         "accuracy: 1 s windows wholly in the real part scored < 0.5 and wholly in the fake part >= 0.5; separated: "
         "every fake-part window scores above every real-part window."),
        "",
        table(["fake family", "model", "splices", "window accuracy", "separated"], splices),
        "",
    ]
    if loo:
        lcnn_fe = getattr(dets["audio-lcnn"], "frontend", "lfcc")
        feats = {"frontend": lcnn_fe,
                 "lcnn": [scoring.features(u.samples, lcnn_fe) for u in test],
                 "lfcc": [scoring.features(u.samples, "lfcc") for u in test]}
        train = load_split("train", seed=seed, corpus_dir=corpus, progress=say)
        loo_rows = leave_one_out(train, test, feats, seed, say)
        body += [
            (f"Leave-one-family-out (clean test audio): both detectors retrained without the held-out family's fakes "
             f"(LCNN {LOO_STEPS} steps instead of the shipped model's 2000; the GMM with its shipped recipe), then "
             "tested on real vs the held-out family and real vs the families they saw. Cells: EER % / AUC."),
            "",
            table(["held-out family", "lcnn on held-out", "lcnn on seen families", "gmm on held-out", "gmm on seen families"],
                  loo_rows),
            "",
        ]
    body += ["Speed on a 60 s clip of test speech (decode excluded; features + model, 2 torch threads):", "",
             table(["model", "x real time"], speed_rows)]
    return section("Audio detectors: spoof detection on vocoded speech", command, "\n".join(body))


def main() -> int:
    """Parse arguments, run, write --out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-loo", action="store_true", help="skip the leave-one-family-out retraining")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus directory (default: the data dir's)")
    args = parser.parse_args()
    command = "python -m bench.bench_detect_audio " + " ".join(sys.argv[1:])
    text = run(command, seed=args.seed, loo=not args.no_loo, corpus=args.corpus)
    emit(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
