"""Where the real-media corpus comes from: source definitions, fetching packages, reading members and licenses."""

from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import unquote

from provguard.errors import ProvguardError

#: origin -> how the package is fetched: PyPI wheel, PyPI sdist, Debian .deb, or an archive already on disk.
ORIGINS = ("wheel", "sdist", "deb", "file")


@dataclass(frozen=True)
class Source:
    """One package and the members of it that become corpus items."""

    name: str
    origin: str
    package: str  # PyPI project, Debian package, or the archive's path when origin == "file"
    kind: str  # photo | speech | video
    members: tuple[str, ...]  # fnmatch patterns on the member path inside the package
    version: str | None = None  # pinned PyPI version (Debian: whatever the archive serves)
    exclude: tuple[str, ...] = ()
    root: str = ""  # prefix dropped from member paths when naming items
    license: str | None = None  # one license for every member; None: the package's Debian copyright file
    per_file: tuple[tuple[str, str, str], ...] = ()  # (pattern, license, copyright), first match wins
    copyright: str | None = None
    raw_rate: int = 8000  # sample rate of headerless s16le members (*.raw)
    speaker: Callable[[str], str | None] | None = field(default=None, compare=False)
    group: Callable[[str], str] | None = field(default=None, compare=False)  # split key; default: one per file

    def fingerprint(self) -> str:
        """A string that changes whenever what this source selects or how it records it changes."""
        return repr((self.origin, self.package, self.kind, self.members, self.version, self.exclude,
                     self.root, self.license, self.per_file, self.copyright, self.raw_rate))


def _stem(member: str) -> str:
    return posixpath.splitext(posixpath.basename(member))[0]


def _asterisk_group(member: str) -> str:
    # The wav and g722 packages hold the same recordings: one split key per prompt keeps them on one side.
    rel = member.split("en_US_f_Allison/", 1)[-1]
    return "asterisk-en:" + posixpath.splitext(rel)[0]


def _pair_group(prefix: str, pairs: dict[str, str]) -> Callable[[str], str]:
    """Split key that puts near-duplicate shots (stereo pairs, before/after) on the same side."""

    def group(member: str) -> str:
        stem = _stem(member)
        return f"{prefix}:{pairs.get(stem, stem)}"

    return group


_OPENCV_PAIRS = {"aloeL": "aloe", "aloeR": "aloe", "leuvenA": "leuven", "leuvenB": "leuven", "graf1": "graf",
                 "graf3": "graf", "basketball1": "basketball", "basketball2": "basketball",
                 "rubberwhale1": "rubberwhale", "rubberwhale2": "rubberwhale", "left": "stereo", "right": "stereo",
                 "aero1": "aero", "aero3": "aero",
                 "box": "box", "box_in_scene": "box"}
_OPENCV_PHOTOS = ("aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
                  "basketball2.png", "board.jpg", "box.png", "box_in_scene.png", "building.jpg", "butterfly.jpg",
                  "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "graf3.png", "home.jpg", "left.jpg",
                  "right.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png",
                  "rubberwhale2.png", "squirrel_cls.jpg", "stuff.jpg", "sudoku.png")
_OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data/"
_SKIMAGE = "skimage/data/"
_SKIMAGE_FILES: tuple[tuple[str, str, str], ...] = (
    ("astronaut.png", "public-domain", "NASA (Eileen Collins), via scikit-image"),
    ("camera.png", "CC0-1.0", "Lav Varshney, via scikit-image"),
    ("chelsea.png", "CC0-1.0", "Stefan van der Walt, via scikit-image"),
    ("coffee.png", "CC0-1.0", "Rachel Michetti, via scikit-image"),
    ("rocket.jpg", "public-domain", "SpaceX, via scikit-image"),
    ("motorcycle_left.png", "BSD-3-Clause", "Middlebury 2014 stereo benchmark (Scharstein et al.), via scikit-image"),
    ("motorcycle_right.png", "BSD-3-Clause", "Middlebury 2014 stereo benchmark (Scharstein et al.), via scikit-image"),
    ("brick.png", "CC0-1.0", "CC0Textures Bricks25, via scikit-image"),
    ("grass.png", "CC0-1.0", "linolafett on DeviantArt (Grass 01), via scikit-image"),
    ("gravel.png", "CC0-1.0", "CC0Textures Gravel04, via scikit-image"),
)
_CODEC2 = "usr/share/codec2/"
_CODEC2_SPEAKERS = {"ve9qrp": "ve9qrp", "vk5qi": "vk5qi", "vk2tpm_004": "vk2tpm", "g3plx": "g3plx",
                    "kristoff": "kristoff", "david4": "david"}

SOURCES: dict[str, Source] = {s.name: s for s in (
    Source("sklearn", "wheel", "scikit-learn", "photo", ("sklearn/datasets/images/*.jpg",), version="1.9.1",
           root="sklearn/datasets/images/", license="CC-BY-2.0",
           per_file=(("*/china.jpg", "CC-BY-2.0", "danielbuechele on Flickr, via scikit-learn"),
                     ("*/flower.jpg", "CC-BY-2.0", "vultilion on Flickr, via scikit-learn"))),
    Source("skimage", "wheel", "scikit-image", "photo", tuple(_SKIMAGE + f for f, _, _ in _SKIMAGE_FILES),
           version="0.26.0", root=_SKIMAGE, per_file=tuple((_SKIMAGE + f, lic, c) for f, lic, c in _SKIMAGE_FILES),
           group=lambda m: "skimage:" + _stem(m).replace("_left", "").replace("_right", "")),
    Source("matplotlib", "wheel", "matplotlib", "photo", ("matplotlib/mpl-data/sample_data/grace_hopper.jpg",),
           version="3.11.2", root="matplotlib/mpl-data/sample_data/", license="public-domain",
           copyright="U.S. Navy photograph of Grace Hopper, via matplotlib"),
    Source("pyannote", "wheel", "pyannote-audio", "speech", ("pyannote/audio/sample/sample.wav",), version="4.0.7",
           root="pyannote/audio/sample/", license="MIT", copyright="CNRS / pyannoteAI (pyannote-audio sample)",
           speaker=lambda m: "pyannote-sample (two speakers)"),
    Source("librivox", "sdist", "pocketsphinx", "speech", ("test/data/librivox/*.wav",), version="5.1.1",
           root="test/data/librivox/", license="public-domain (LibriVox)",
           copyright="LibriVox recording of Sense and Sensibility, via the pocketsphinx test data",
           speaker=lambda m: "librivox:" + _stem(m).rsplit("-", 1)[0]),
    Source("mate-backgrounds", "deb", "mate-backgrounds", "photo", ("usr/share/backgrounds/mate/nature/*.jpg",),
           root="usr/share/backgrounds/mate/nature/"),
    Source("lomiri-wallpapers", "deb", "lomiri-wallpapers-16.04", "photo", ("usr/share/backgrounds/*.jpg",),
           exclude=("*/umang_by_Abhishek_Mudgal.jpg",), root="usr/share/backgrounds/"),  # umang is abstract art
    Source("opencv-photos", "deb", "opencv-doc", "photo", tuple(_OPENCV_DATA + f for f in _OPENCV_PHOTOS),
           root=_OPENCV_DATA, group=_pair_group("opencv", _OPENCV_PAIRS)),
    Source("opencv-video", "deb", "opencv-doc", "video", (_OPENCV_DATA + "vtest.avi", _OPENCV_DATA + "tree.avi"),
           root=_OPENCV_DATA),
    Source("asterisk-wav", "deb", "asterisk-core-sounds-en-wav", "speech", ("usr/share/asterisk/sounds/*.wav",),
           exclude=("*/silence/*",), root="usr/share/asterisk/sounds/en_US_f_Allison/",
           speaker=lambda m: "asterisk:allison-smith", group=_asterisk_group),
    Source("asterisk-g722", "deb", "asterisk-core-sounds-en-g722", "speech", ("usr/share/asterisk/sounds/*.g722",),
           exclude=("*/silence/*",), root="usr/share/asterisk/sounds/en_US_f_Allison/",
           speaker=lambda m: "asterisk:allison-smith", group=_asterisk_group),
    Source("klettres", "deb", "klettres-data", "speech", ("usr/share/klettres/*/alpha/*.ogg",
                                                           "usr/share/klettres/*/syllab/*.ogg"),
           root="usr/share/klettres/", speaker=lambda m: "klettres:" + m.split("/")[3]),
    # all.wav repeats the others; f2400/m2400 are vocoder output, not a microphone.
    Source("codec2", "deb", "codec2-examples", "speech",
           (_CODEC2 + "wav/*.wav", _CODEC2 + "raw/speech_orig_16k.wav", _CODEC2 + "raw/kristoff.raw",
            _CODEC2 + "raw/g3plx.raw", _CODEC2 + "raw/cq_ref.raw"),
           exclude=("*/all.wav", "*/f2400.wav", "*/m2400.wav"), root=_CODEC2,
           speaker=lambda m: ("codec2:" + _CODEC2_SPEAKERS[_stem(m)]) if _stem(m) in _CODEC2_SPEAKERS else None),
)}

# Debian short license names -> SPDX identifiers; anything else is kept as Debian spells it.
_SPDX = {"GPL-2+": "GPL-2.0-or-later", "GPL-2.0+": "GPL-2.0-or-later", "GPL-2": "GPL-2.0-only",
         "GPL-3+": "GPL-3.0-or-later", "GPL-3": "GPL-3.0-only", "LGPL-2.1": "LGPL-2.1-only",
         "LGPL-2.1+": "LGPL-2.1-or-later", "LGPL-2": "LGPL-2.0-only", "LGPL-2+": "LGPL-2.0-or-later",
         "Expat": "MIT", "CC0": "CC0-1.0", "public-domain": "public-domain"}


def spdx(name: str) -> str:
    """Normalise a Debian license short name to its SPDX identifier where one is clear."""
    name = " ".join(name.split())
    return " ".join(_SPDX.get(tok, tok) for tok in name.split(" "))


@dataclass(frozen=True)
class Dep5:
    """A parsed machine-readable debian/copyright: header defaults and Files stanzas in file order."""

    license: str | None
    copyright: str | None
    stanzas: tuple[tuple[tuple[str, ...], str, str], ...]  # (patterns, license, copyright)

    def lookup(self, member: str) -> tuple[str, str] | None:
        """(license, copyright) for an installed path: last stanza whose pattern matches wins, as DEP-5 says."""
        exact = base = star = None
        name = posixpath.basename(member)
        for patterns, lic, cr in self.stanzas:
            for pat in patterns:
                if pat == "*":
                    star = (lic, cr)
                elif fnmatchcase(member, pat):
                    exact = (lic, cr)
                elif not posixpath.basename(pat).strip("*?"):
                    continue  # a whole upstream directory ("data/*"): installed paths differ, so no guessing
                elif fnmatchcase(member, "*/" + pat):
                    exact = (lic, cr)  # the upstream path is a suffix of the installed one
                elif fnmatchcase(name, posixpath.basename(pat)):
                    base = (lic, cr)  # upstream paths differ from installed ones: fall back to the file name
        found = exact or base or star
        if found:
            return found
        return (self.license, self.copyright or "") if self.license else None


def _paragraphs(text: str) -> list[dict[str, str]]:
    paras: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    key = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if cur:
                paras.append(cur)
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += "\n" + line.strip()
        elif ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            key = key.strip().lower()
            cur[key] = value.strip()
    return paras


def parse_dep5(text: str) -> Dep5 | None:
    """Parse a DEP-5 copyright file; None when it is free-form text."""
    paras = _paragraphs(text)
    if not paras or "format" not in paras[0]:
        return None
    head = paras[0]

    def first(value: str | None) -> str | None:
        return spdx(value.splitlines()[0]) if value and value.splitlines()[0].strip() else None

    stanzas = tuple((tuple(p["files"].split()), first(p.get("license")) or "", _oneline(p.get("copyright", "")))
                    for p in paras[1:] if "files" in p and first(p.get("license")))
    return Dep5(first(head.get("license")), _oneline(head.get("copyright", "")) or None, stanzas)


def _oneline(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- fetching ---------------------------------------------------------------------------------------------------

def _run(cmd: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ProvguardError(f"{cmd[0]} is not available ({exc.strerror})") from None
    except subprocess.TimeoutExpired:
        raise ProvguardError(f"{' '.join(cmd[:3])} took longer than {timeout:.0f} s") from None


def _tail(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip() and not ln.startswith("W: ")]
    return lines[-1].strip() if lines else f"exit status {proc.returncode}"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _fetch_pypi(src: Source, downloads: Path, timeout: float) -> Path:
    def cached() -> Path | None:
        want = _norm(f"{src.package}-{src.version}" if src.version else src.package) + "_"
        ends = (".whl",) if src.origin == "wheel" else (".tar.gz", ".zip")
        hits = [p for p in sorted(downloads.iterdir()) if p.name.endswith(ends) and _norm(p.name).startswith(want)]
        return hits[-1] if hits else None

    if (hit := cached()) is not None:
        return hit
    binary = ["--only-binary=:all:"] if src.origin == "wheel" else ["--no-binary=:all:"]
    spec = f"{src.package}=={src.version}" if src.version else src.package
    proc = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
                 *binary, spec, "-d", str(downloads)], downloads, timeout)
    if proc.returncode != 0 or (hit := cached()) is None:
        raise ProvguardError(f"pip download {spec} failed: {_tail(proc)}")
    return hit


_apt_updated = False


def _fetch_deb(src: Source, downloads: Path, timeout: float) -> Path:
    global _apt_updated
    hits = sorted(downloads.glob(f"{src.package}_*.deb"))
    if hits:
        return hits[-1]
    proc = _run(["apt-get", "download", src.package], downloads, timeout)
    if proc.returncode != 0 and not _apt_updated:
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            _apt_updated = True
            _run(["apt-get", "update", "-q"], downloads, timeout)
            proc = _run(["apt-get", "download", src.package], downloads, timeout)
        else:
            raise ProvguardError(f"apt-get download {src.package} failed: {_tail(proc)} "
                                 "(if the package lists are missing, run `apt-get update` as root)")
    hits = sorted(downloads.glob(f"{src.package}_*.deb"))
    if proc.returncode != 0 or not hits:
        raise ProvguardError(f"apt-get download {src.package} failed: {_tail(proc)}")
    return hits[-1]


def fetch(src: Source, downloads: Path, timeout: float) -> tuple[Path, str]:
    """The package archive (downloaded once, then reused) and its version."""
    if src.origin == "file":
        path = Path(src.package)
        if not path.is_file():
            raise ProvguardError(f"archive {path} not found")
        return path, src.version or "local"
    downloads.mkdir(parents=True, exist_ok=True)
    if src.origin == "deb":
        deb = _fetch_deb(src, downloads, timeout)
        return deb, unquote(deb.name.split("_")[1]) if deb.name.count("_") >= 2 else "unknown"
    if src.origin in ("wheel", "sdist"):
        return _fetch_pypi(src, downloads, timeout), src.version or "latest"
    raise ProvguardError(f"source {src.name}: unknown origin {src.origin!r}")


# --- reading archives without installing them ----------------------------------------------------------------------

def selected(src: Source, member: str) -> bool:
    return any(fnmatchcase(member, p) for p in src.members) and not any(fnmatchcase(member, p) for p in src.exclude)


def _take_tar(tar: tarfile.TarFile, src: Source, strip_top: bool, limit: int, out: dict[str, bytes]) -> None:
    for info in tar:
        name = info.name[2:] if info.name.startswith("./") else info.name
        if strip_top:
            name = name.split("/", 1)[1] if "/" in name else ""
        if info.isfile() and (selected(src, name) or name == f"usr/share/doc/{src.package}/copyright"):
            if info.size > limit:
                raise ProvguardError(f"{name} is larger than {limit} bytes")
            fh = tar.extractfile(info)
            if fh is not None:
                out[name] = fh.read()


def _deb_data_tar(deb: Path) -> tarfile.TarFile:
    """The data.tar of a .deb (an ar archive) read in Python: gz, bz2 or xz."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise ProvguardError(f"{deb.name} is not a Debian package")
    pos = 8
    while pos + 60 <= len(raw):
        name, size = raw[pos:pos + 16].decode().strip().rstrip("/"), int(raw[pos + 48:pos + 58].decode().strip())
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(raw[pos + 60:pos + 60 + size]), mode="r:*")
        pos += 60 + size + (size & 1)
    raise ProvguardError(f"{deb.name} holds no data.tar")


def read_archive(archive: Path, src: Source, limit: int) -> dict[str, bytes]:
    """The selected members (and a Debian copyright file) by member path, read straight from the archive."""
    out: dict[str, bytes] = {}
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and selected(src, info.filename):
                        if info.file_size > limit:
                            raise ProvguardError(f"{info.filename} is larger than {limit} bytes")
                        out[info.filename] = zf.read(info)
        elif archive.name.endswith(".deb"):
            if shutil.which("dpkg-deb"):
                with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)], stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL) as proc:
                    assert proc.stdout is not None
                    with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
                        _take_tar(tar, src, False, limit, out)
                if proc.returncode != 0:
                    raise ProvguardError(f"dpkg-deb could not read {archive.name}")
            else:
                with _deb_data_tar(archive) as tar:
                    _take_tar(tar, src, False, limit, out)
        else:
            with tarfile.open(archive, mode="r:*") as tar:
                _take_tar(tar, src, True, limit, out)
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ProvguardError(f"cannot read {archive.name}: {exc}") from None
    return out
