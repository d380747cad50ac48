"""A wheelhouse built without the network, for installer tests (pip --no-index --find-links).

``pip wheel .`` would fetch setuptools and the dependencies from PyPI; tests must stay on
loopback. So commune-monitor's own wheel is written from the source tree with the metadata of
this venv's (editable) install, and each dependency's wheel is re-packed from the files this
venv installed (its RECORD and WHEEL tags). For a real offline release use
``scripts/build-wheelhouse.sh`` (network once, on the build machine).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
import sysconfig
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.support.paths import ROOT

PACKAGES = ("agent", "collector", "common")


def _installed(name: str) -> md.Distribution:
    """The distribution installed in this venv (not an egg-info lying in the source tree)."""
    site = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    found = next(iter(md.distributions(name=name, path=site)), None)
    if found is None:
        raise md.PackageNotFoundError(name)
    return found


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    return f"{arcname},sha256={digest},{len(data)}"


def _write_wheel(path: Path, files: Iterable[tuple[str, bytes]], dist_info: str) -> Path:
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for arcname, data in files:
            whl.writestr(arcname, data)
            records.append(_record_line(arcname, data))
        records.append(f"{dist_info}/RECORD,,")
        whl.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return path


def _own_files(dist: md.Distribution, dist_info: str) -> Iterator[tuple[str, bytes]]:
    for package in PACKAGES:
        for source in sorted((ROOT / package).rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                yield source.relative_to(ROOT).as_posix(), source.read_bytes()
    yield f"{dist_info}/METADATA", (dist.read_text("METADATA") or "").encode()
    yield f"{dist_info}/entry_points.txt", (dist.read_text("entry_points.txt") or "").encode()
    yield f"{dist_info}/WHEEL", (b"Wheel-Version: 1.0\nGenerator: tests/support/wheelhouse.py\n"
                                 b"Root-Is-Purelib: true\nTag: py3-none-any\n")


def own_wheel(out: Path) -> Path:
    """commune-monitor's wheel from the source tree."""
    dist = _installed("commune-monitor")
    name = f"{_norm(dist.metadata['Name'])}-{dist.version}"
    return _write_wheel(out / f"{name}-py3-none-any.whl", _own_files(dist, f"{name}.dist-info"),
                        f"{name}.dist-info")


def repack(dist: md.Distribution, out: Path) -> Path:
    """A wheel of an installed distribution, from the files its RECORD lists."""
    name = f"{_norm(dist.metadata['Name'])}-{dist.version}"
    wheel_text = dist.read_text("WHEEL") or ""
    tag = next((line.split(":", 1)[1].strip() for line in wheel_text.splitlines()
                if line.startswith("Tag:")), "py3-none-any")
    dist_info = f"{name}.dist-info"
    files = []
    for file in dist.files or ():
        posix = file.as_posix()
        if posix.startswith("..") or "__pycache__" in posix or posix.endswith("/RECORD"):
            continue
        if posix.endswith(("/INSTALLER", "/REQUESTED", "/direct_url.json")):
            continue
        arcname = posix if not posix.startswith(f"{_norm(dist.metadata['Name'])}-") \
            or ".dist-info/" not in posix else f"{dist_info}/{posix.split('/', 1)[1]}"
        files.append((arcname, Path(str(dist.locate_file(file))).read_bytes()))
    return _write_wheel(out / f"{name}-{tag}.whl", files, dist_info)


def _requirements(dist: md.Distribution, extras: tuple[str, ...] = ()) -> list[str]:
    names = []
    for req in dist.requires or ():
        marker = req.split(";", 1)[1] if ";" in req else ""
        if "extra" in marker and not any(re.search(rf"extra\s*==\s*['\"]{e}['\"]", marker)
                                         for e in extras):
            continue
        names.append(re.split(r"[\s<>=!~\[;(]", req, maxsplit=1)[0])
    return names


def build(out: Path, extras: tuple[str, ...] = ("diag",)) -> list[Path]:
    """Write commune-monitor and its runtime dependencies (recursively), with those of
    ``extras`` (the collector installs ``[diag]``), as wheels into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    wheels = [own_wheel(out)]
    todo = _requirements(_installed("commune-monitor"), extras)
    done: set[str] = set()
    while todo:
        name = _norm(todo.pop())
        if name in done:
            continue
        done.add(name)
        dist = _installed(name)
        wheels.append(repack(dist, out))
        todo.extend(_requirements(dist))
    return wheels
