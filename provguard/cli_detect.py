"""Command-line parsers and handlers for `provguard train` and `provguard eval` (the detector suite)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provguard.cli_generate import add_training_options, progress_line


def add_detect(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register `train image|audio` and `eval image|audio`."""
    train = sub.add_parser(
        "train",
        help="retrain the shipped detectors from the corpus and the reference generator's fakes",
        description="Train the detector (frequency CNN for images, LCNN for audio) and its classical baselines on "
        "the corpus train split against reference-generator fakes, calibrate on the validation split, measure on "
        "the test split, and write weights and model cards. Run `provguard corpus build` first.",
    )
    train.add_argument("what", choices=("image", "audio"), help="which detectors to train")
    add_training_options(train)
    ev = sub.add_parser(
        "eval",
        help="measure the detectors on folders of real and fake files",
        description="Score every file under --real and --fake with the detector and its baselines; print AUC, "
        "average precision, accuracy at the calibrated 0.5 threshold and EER; write ROC and DET plots (PNG) and "
        "a JSON report with every score. Unreadable files are skipped and listed.",
    )
    ev.add_argument("what", choices=("image", "audio"), help="which detectors to evaluate")
    ev.add_argument("--real", type=Path, required=True, metavar="DIR", help="folder of real files")
    ev.add_argument("--fake", type=Path, required=True, metavar="DIR", help="folder of synthetic files")
    ev.add_argument("--out", type=Path, default=Path("eval"), metavar="DIR", help="where plots and report.json go (default ./eval)")
    ev.add_argument("--models", metavar="NAMES", help="comma-separated detector names (default: the detector and its baselines)")


def run_train(args: argparse.Namespace) -> int:
    """Train image or audio detectors and print their summary."""
    if args.what == "image":
        from detectors.image.train import train_image_detectors as train
    else:
        from detectors.audio.train import train_audio_detectors as train
    summary = train(
        seed=args.seed, minutes=args.minutes, corpus_dir=args.corpus, out_dir=args.out, threads=args.threads,
        progress=progress_line,
    )
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate detectors on real and fake folders and print a metrics table."""
    from detectors.evaluate import evaluate
    from provguard.progress import Progress

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    progress = Progress("scoring")
    result = evaluate(args.what, args.real, args.fake, args.out, models=models, progress=progress.advance)
    progress.close()
    print(f"{'model':<20} {'AUC':>7} {'AP':>7} {'acc@0.5':>8} {'EER':>7}  real/fake")
    for name, m in result.metrics.items():
        print(f"{name:<20} {m['auc']:7.4f} {m['ap']:7.4f} {m['accuracy']:8.4f} {100 * m['eer']:6.2f}%  {m['n_real']}/{m['n_fake']}")
    for line in result.skipped:
        print(f"skipped {line}", file=sys.stderr)
    print(f"wrote {result.files['roc']}, {result.files['det']}, {result.files['report']}")
    return 0
