"""Command-line parsers and handlers for `provguard generate ...` (the reference generator)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _common(parser: argparse.ArgumentParser, many: bool) -> None:
    """Options every generate command takes: output, seed, no-sign, force."""
    what = "a file, or a directory when -n asks for several" if many else "the output file"
    parser.add_argument("-o", "--output", type=Path, required=True, help=f"where to write ({what})")
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same bytes (default 0)")
    parser.add_argument(
        "--no-sign", action="store_true", help="skip signing (by default outputs are watermarked and C2PA-signed)"
    )
    parser.add_argument("--force", action="store_true", help="replace outputs that exist")


def add_generate(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """Register `generate image|video|audio|train`."""
    gen = sub.add_parser(
        "generate",
        help="make reference fakes with the embedded generator (signed at generation time)",
        description="Small generative models of today's families, trained here on real media: a latent "
        "autoencoder + diffusion transformer for images and video, vocoders for speech. Every output is "
        "watermarked and C2PA-signed (digitalSourceType trainedAlgorithmicMedia) unless --no-sign.",
    )
    gsub = gen.add_subparsers(dest="generate_command", required=True, parser_class=parser_class)
    image = gsub.add_parser(
        "image",
        help="sample images, or reconstruct a real one through the autoencoder",
        description="Sample images from the diffusion transformer (DDIM), or with --from REAL reconstruct a real "
        "photo through the latent autoencoder: an aligned fake with the generator's fingerprint (tiled decoding "
        "handles large inputs).",
    )
    _common(image, many=True)
    image.add_argument("--from", dest="source", type=Path, metavar="REAL", help="reconstruct this real image")
    image.add_argument("-n", type=int, default=1, help="how many images (default 1)")
    image.add_argument("--size", type=int, default=256, help="sample size in pixels, >= 256 (default 256)")
    image.add_argument("--steps", type=int, default=None, help="DDIM steps (default: the model's)")
    image.add_argument("--format", dest="fmt", choices=("png", "jpeg", "webp"), default="png", help="image format")
    video = gsub.add_parser(
        "video",
        help="image-to-video: pan or zoom through latent space from a still",
        description="Make an H.264 MP4 from a still (real with --from, else a sample): the camera moves through "
        "latent space, DiT-refined noise keeps every frame generator-made, and the autoencoder decodes the frames.",
    )
    _common(video, many=False)
    video.add_argument("--from", dest="source", type=Path, metavar="STILL", help="start from this image")
    video.add_argument("--frames", type=int, default=24, help="number of frames (default 24)")
    video.add_argument("--fps", type=int, default=12, help="frames per second (default 12)")
    video.add_argument("--motion", choices=("pan", "zoom"), default="pan", help="camera motion (default pan)")
    video.add_argument("--size", type=int, default=256, help="short side in pixels, >= 256 (default 256)")
    video.add_argument("--strength", type=float, default=0.25, help="DiT noise strength per frame, 0-0.9 (default 0.25)")
    video.add_argument("--refine-steps", type=int, default=4, help="DiT refinement steps per frame, 0-50 (default 4)")
    video.add_argument("--speech", type=Path, metavar="REAL", help="add an audio track: this real speech, vocoded")
    video.add_argument("--vocoder", choices=("neural", "griffinlim", "lpc"), default="neural",
                       help="vocoder for the --speech track (default neural)")
    audio = gsub.add_parser(
        "audio",
        help="resynthesise real speech with a vocoder (optionally pitch-shifted)",
        description="Resynthesise real speech from its mel spectrogram with the neural vocoder, Griffin-Lim or a "
        "source-filter (LPC) vocoder; --pitch shifts it for a voice-conversion-like fake. Writes 16 kHz WAV.",
    )
    _common(audio, many=False)
    audio.add_argument("--from", dest="source", type=Path, metavar="REAL", required=True, help="real speech to resynthesise")
    audio.add_argument("--vocoder", choices=("neural", "griffinlim", "lpc"), default="neural", help="default neural")
    audio.add_argument("--pitch", type=float, default=0.0, metavar="SEMITONES", help="pitch shift (default 0)")
    train = gsub.add_parser(
        "train",
        help="retrain the shipped generator weights from the corpus",
        description="Train on the corpus train split (run `provguard corpus build` first) and write weights and "
        "model cards. Each model trains within the --minutes budget on CPU.",
    )
    train.add_argument("what", choices=("image", "audio"), help="image: autoencoder + DiT; audio: neural vocoder")
    add_training_options(train)


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Options every training command takes: seed, time budget, threads, corpus and output directory."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--minutes", type=float, default=25.0, help="time budget in minutes (default 25)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--corpus", type=Path, help="corpus directory (default: the built corpus)")
    parser.add_argument("--out", type=Path, help="write weights and model cards here (default: the package's weights)")


def progress_line(message: str) -> None:
    """Print progress to stderr."""
    print(message, file=sys.stderr, flush=True)


def run_generate(args: argparse.Namespace) -> int:
    """Run a generate subcommand and print what it wrote."""
    command = args.generate_command
    if command == "image":
        from provguard.generate.image import generate_image

        extra = {"steps": args.steps} if args.steps else {}
        paths = generate_image(
            args.output, source=args.source, n=args.n, size=args.size, seed=args.seed,
            no_sign=args.no_sign, force=args.force, fmt=args.fmt, **extra,
        )
    elif command == "video":
        from provguard.generate.video import generate_video

        track = None
        if args.speech is not None:
            from provguard.generate.audio import load_speech, resynthesize

            samples, rate = load_speech(args.speech)
            track = resynthesize(samples, rate, vocoder=args.vocoder, seed=args.seed)
        paths = [
            generate_video(
                args.output, source=args.source, frames=args.frames, fps=args.fps, motion=args.motion,
                size=args.size, seed=args.seed, strength=args.strength, refine_steps=args.refine_steps, audio=track,
                no_sign=args.no_sign, force=args.force,
            )
        ]
    elif command == "audio":
        from provguard.generate.audio import generate_audio

        paths = [
            generate_audio(
                args.output, source=args.source, vocoder=args.vocoder, pitch=args.pitch, seed=args.seed,
                no_sign=args.no_sign, force=args.force,
            )
        ]
    else:
        return _train(args)
    state = "unsigned" if args.no_sign else "signed"
    for path in paths:
        print(f"wrote {path} ({state})")
    return 0


def _train(args: argparse.Namespace) -> int:
    """Retrain image or audio generator weights."""
    if args.what == "image":
        from provguard.generate.train_image import train_image_models

        result = train_image_models(
            seed=args.seed, minutes=args.minutes, corpus_dir=args.corpus, progress=progress_line, threads=args.threads,
            out_dir=args.out,
        )
    else:
        from provguard.generate.train_audio import train_vocoder

        result = train_vocoder(
            seed=args.seed, minutes=args.minutes, corpus_dir=args.corpus, progress=progress_line, threads=args.threads,
            output_dir=args.out,
        )
    print(f"trained {args.what} models: {', '.join(str(k) for k in result)}")
    return 0
