"""Where the host module reads the kernel's files: node_exporter's procfs, sysfs and rootfs.

Every read of the module goes through a ``Roots``, so a containerised agent reads the host's
``/host/proc`` and a test reads a fixture tree it built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.modules.host_config import HostConfig


@dataclass(frozen=True)
class Roots:
    """The three roots; ``proc("net/dev")`` is ``<procfs>/net/dev``."""

    procfs: Path = Path("/proc")
    sysfs: Path = Path("/sys")
    rootfs: Path = Path("/")

    @classmethod
    def of(cls, config: HostConfig) -> Roots:
        """The roots a config names."""
        return cls(Path(config.procfs), Path(config.sysfs), Path(config.rootfs))

    def proc(self, relative: str) -> Path:
        """A path under procfs."""
        return self.procfs / relative

    def sys(self, relative: str) -> Path:
        """A path under sysfs."""
        return self.sysfs / relative

    def root(self, absolute: str) -> Path:
        """A host path (``/etc/os-release``, a mount point) under rootfs."""
        return self.rootfs / absolute.lstrip("/")

    def strip_rootfs(self, path: str) -> str:
        """A path as the host sees it: ``/rootfs/home`` -> ``/home`` when rootfs is ``/rootfs``."""
        prefix = str(self.rootfs).rstrip("/")
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            return path[len(prefix):] or "/"
        return path


def read_text(path: Path) -> str:
    """A kernel file's text (raises OSError: the section fails, as node_exporter's collector)."""
    with open(path, encoding="utf-8", errors="replace") as file:
        return file.read()


def read_value(path: Path) -> str | None:
    """A one-value sysfs attribute, stripped; None if it cannot be read (EINVAL: link down)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read().strip()
    except OSError:
        return None


def read_number(path: Path, base: int = 10) -> float | None:
    """A numeric sysfs attribute; None when missing, unreadable or not a number."""
    text = read_value(path)
    if text is None:
        return None
    try:
        return float(int(text, base))
    except ValueError:
        return None
