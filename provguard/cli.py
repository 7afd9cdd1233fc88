"""The provguard command line: parses arguments, calls the library, renders results."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from provguard import __version__
from provguard.errors import ProvguardError
from provguard.report import INVALID, TRUSTED, VALID, Report

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

DESCRIPTION = """\
provguard proves where media came from and flags what looks machine-made.

  provguard keys init                 make development signing keys (once)
  provguard sign IN -o OUT            sign an image, audio or video file with C2PA
  provguard verify FILES...           check Content Credentials of untrusted files
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
            "Sign a JPEG, PNG, WebP, TIFF, WAV, MP3, FLAC or MP4 file with a C2PA manifest stating it was "
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
    from provguard.sign import sign

    result = sign(
        args.input,
        args.output,
        signer=_signer_from_args(args),
        digital_source_type=args.source_type,
        generator=args.generator,
        parent=args.parent,
        title=args.title,
        force=args.force,
    )
    print(f"signed: {result.path} ({result.media_type}, {result.size} bytes)")
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
    from provguard.verify import expand_paths, resolve_trust_anchors, verify_path

    anchors = resolve_trust_anchors(args.trust_anchors)
    paths = list(expand_paths(args.paths, args.recursive))
    progress = Progress("verifying", total=len(paths))
    reports: list[Report] = []
    if args.format == "json":
        print("[", end="")
    for index, path in enumerate(paths):
        report = verify_path(path, anchors)
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
    if args.format == "text" and len(reports) > 1:
        counts: dict[str, int] = {}
        for r in reports:
            key = "unreadable" if r.errors else r.provenance.state
            counts[key] = counts.get(key, 0) + 1
        print("summary: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())), file=sys.stderr)
    return exit_code_for(reports) if reports else EXIT_USAGE


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


_COMMANDS = {"keys": _cmd_keys, "sign": _cmd_sign, "verify": _cmd_verify, "demo": _cmd_demo}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand and map errors to one line and exit 2."""
    args = build_parser().parse_args(argv)
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
        print(f"provguard: error: input too large or too deeply nested ({type(exc).__name__})", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if os.environ.get("PROVGUARD_DEBUG"):
            raise
        print(f"provguard: internal error: {type(exc).__name__}: {exc} (set PROVGUARD_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_USAGE
