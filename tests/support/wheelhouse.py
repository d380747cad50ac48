"""A wheelhouse built without the network, for installer tests (pip --no-index --find-links).

commune-monitor's wheel is the real one: ``pip wheel --no-build-isolation --no-index --no-deps``
on a copy of the checkout's package sources, so setup.cfg's package data and ``data_files``
(rules, runbooks, SNMP modules, templates, dashboards, examples) are in it as a release has
them; the copy keeps parallel builds and setuptools' build/ folder out of the checkout. The build
backend is this venv's setuptools and wheel (the dev extra), so nothing is fetched. Each
dependency's wheel is re-packed from the files this venv installed (its RECORD and WHEEL tags),
since ``pip wheel`` would fetch them from PyPI. For a real offline release use
``scripts/build-wheelhouse.sh`` (network once, on the build machine).
"""

from __future__ import annotations

import base64
import email.parser
import fcntl
import hashlib
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from tests.support.paths import ROOT

# What setup.cfg builds the wheel from: the packages, their data, the metadata files.
SOURCES = ("agent", "collector", "common", "configs", "dashboards", "setup.cfg", "pyproject.toml",
           "README.md")


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


def own_wheel(out: Path) -> Path:
    """commune-monitor's wheel, built by pip from a copy of the checkout's sources."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    with tempfile.TemporaryDirectory(prefix="commune-monitor-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in SOURCES:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, src / name, ignore=ignore)
            else:
                shutil.copy2(ROOT / name, src / name)
        built = Path(tmp) / "wheel"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(built),
             str(src)], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"pip wheel failed:\n{result.stdout}{result.stderr}")
        (wheel,) = built.glob("commune_monitor-*.whl")
        return Path(shutil.copy2(wheel, out / wheel.name))


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


def _wheel_requires(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as whl:
        name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(whl.read(name).decode("utf-8"))
    return metadata.get_all("Requires-Dist") or []


def _requirements(requires: Iterable[str], extras: tuple[str, ...] = ()) -> list[str]:
    names = []
    for req in requires:
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
    todo = _requirements(_wheel_requires(wheels[0]), extras)
    done: set[str] = set()
    while todo:
        name = _norm(todo.pop())
        if name in done:
            continue
        done.add(name)
        dist = _installed(name)
        wheels.append(repack(dist, out))
        todo.extend(_requirements(dist.requires or ()))
    return wheels


def shared(base: Path) -> Path:
    """The wheelhouse ``base/wheelhouse``, built by the first test process that asks for it
    (the other pytest-xdist workers of the session wait for it and reuse it)."""
    out = base / "wheelhouse"
    with open(base / "wheelhouse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / "wheelhouse.complete").exists():
            shutil.rmtree(out, ignore_errors=True)
            build(out)
            (base / "wheelhouse.complete").touch()
    return out
