"""Python code run with a small tmpfs mounted over a folder, in a user and mount namespace of its
own (``unshare -rm``: as root or not), so the machine never sees the mount: a full disk or a
read-only folder made on purpose."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.peers import require_binary


def python_on_tmpfs(folder: Path, options: str, code: str, *args: object,
                    timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args`` from the repository's root with a tmpfs mounted at ``folder``
    (mount ``options``, e.g. ``size=64k`` or ``ro,size=64k``); its output, not checked."""
    script = (f"{require_binary('mount')} -t tmpfs -o {options} tmpfs {folder} && "
              f"exec {sys.executable} -c '{code}' " + " ".join(str(a) for a in args))
    return subprocess.run([require_binary("unshare"), "-rm", "sh", "-c", script],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False)
