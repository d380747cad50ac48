"""The offline release a province or a node installs from, built by scripts/build-wheelhouse.sh.

The script runs ``pip wheel`` on the checkout, which needs PyPI for the dependencies; tests stay
off the network, so pip is pointed (through its environment variables, the script unchanged) at
the test session's wheelhouse (tests/support/wheelhouse.py: the dependencies re-packed from this
venv) and builds commune-monitor's own wheel again, from the copy, without build isolation, with
this venv's setuptools. The checkout's
files (``git ls-files``: tracked and new, not ignored) are copied first, so the build's
``build/`` and ``*.egg-info`` stay out of the checkout and parallel runs do not share them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.support.paths import ROOT

NAME = "commune-monitor-wheelhouse"


def source_copy(out: Path) -> Path:
    """The checkout's tracked and new (not ignored) files, copied to ``out``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True,
                            timeout=60).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():  # a deleted, not yet committed file is still listed
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, out / rel)
    return out


def build(workdir: Path, deps: Path) -> Path:
    """Run scripts/build-wheelhouse.sh offline, the dependencies from the wheels in ``deps``;
    the ``NAME.tar.gz`` it wrote."""
    source = source_copy(workdir / "source")
    env = {**os.environ, "PYTHON": sys.executable, "PIP_NO_INDEX": "1",
           "PIP_FIND_LINKS": str(deps),
           # pip reads a false value of PIP_NO_BUILD_ISOLATION as --no-build-isolation
           "PIP_NO_BUILD_ISOLATION": "0"}
    done = subprocess.run(["bash", str(source / "scripts" / "build-wheelhouse.sh"),
                           str(workdir / "dist" / NAME)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    tarball = workdir / "dist" / f"{NAME}.tar.gz"
    assert tarball.is_file(), done.stdout
    return tarball


def unpack(tarball: Path, into: Path) -> Path:
    """Unpack the release as a person would (``tar xzf``); the release folder."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(into, filter="data")
    return into / NAME
