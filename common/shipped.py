"""The data files that ship with commune-monitor, found from any working folder.

Rules, runbooks, SNMP modules, the Alertmanager template, the Grafana dashboards and their
provisioning templates, and the example configs are looked up by *kind*, highest priority first:

1. the override folder ``/etc/commune-collector/<kind>`` (``/etc/commune-agent/snmp`` for the
   agent's SNMP modules); the ``/etc`` part is ``$COMMUNE_MONITOR_ETC`` when set, so ``--root``
   installs and tests can move it;
2. the checkout, when the imported package lives in one (its parent folder has ``setup.cfg`` and
   ``configs/``): ``configs/prometheus/rules``, ``configs/runbooks``...;
3. the installed data folder ``<sys.prefix>/share/commune-monitor/<kind>`` (setup.cfg
   ``data_files``).

    >>> shipped_dirs("rules")
    [PosixPath('/home/me/commune-monitor/configs/prometheus/rules')]
    >>> shipped_files("runbooks", "*.yml")["disk-mem.yml"]
    PosixPath('/etc/commune-collector/runbooks/disk-mem.yml')      # an override wins

Nothing here depends on the working folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from common.cli import UsageError

__all__ = ["ETC_ENV", "KINDS", "NotShipped", "candidate_dirs", "checkout_root", "etc_root",
           "shipped_dir", "shipped_dirs", "shipped_file", "shipped_files"]

ETC_ENV = "COMMUNE_MONITOR_ETC"
DATA_DIR = Path("share") / "commune-monitor"


@dataclass(frozen=True)
class Kind:
    """Where one kind of shipped data lives: in the checkout, and under /etc for overrides."""

    checkout: str                # relative to the checkout's root
    etc: tuple[str, ...]         # override folders, relative to /etc, in priority order


KINDS: dict[str, Kind] = {
    "rules": Kind("configs/prometheus/rules", ("commune-collector/rules",)),
    # /etc/commune-diag/runbooks: where commune-diag looked before the shared lookup.
    "runbooks": Kind("configs/runbooks", ("commune-collector/runbooks", "commune-diag/runbooks")),
    "snmp": Kind("configs/snmp", ("commune-agent/snmp",)),
    "alertmanager": Kind("configs/alertmanager", ("commune-collector/alertmanager",)),
    "dashboards": Kind("dashboards", ("commune-collector/dashboards",)),
    "grafana": Kind("dashboards/provisioning", ("commune-collector/grafana",)),
    # examples/agent, examples/gateway, examples/inventory (configs/ itself in the checkout).
    "examples": Kind("configs", ("commune-collector/examples", "commune-agent/examples")),
}


class NotShipped(UsageError):
    """Shipped data that is nowhere to be found; the message names every place looked."""

    def __init__(self, what: str, looked: list[Path]) -> None:
        self.what = what
        self.looked = looked
        places = ", ".join(str(p) for p in looked)
        super().__init__(f"no {what} found (looked for {places}); reinstall commune-monitor "
                         f"or create {looked[0]}")


def checkout_root() -> Path | None:
    """The checkout this package was imported from, or None for an installed package."""
    root = Path(__file__).resolve().parents[1]
    if (root / "setup.cfg").is_file() and (root / "configs").is_dir():
        return root
    return None


def etc_root() -> Path:
    """Where override folders live: ``$COMMUNE_MONITOR_ETC``, default ``/etc``."""
    return Path(os.environ.get(ETC_ENV) or "/etc")


def candidate_dirs(kind: str) -> list[Path]:
    """Every folder looked in for ``kind``, existing or not, highest priority first."""
    try:
        spec = KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown kind of shipped data {kind!r} (known: "
                         f"{', '.join(KINDS)})") from None
    etc = etc_root()
    dirs = [etc / sub for sub in spec.etc]
    checkout = checkout_root()
    if checkout is not None:
        dirs.append(checkout / spec.checkout)
    dirs.append(Path(sys.prefix) / DATA_DIR / kind)
    return dirs


def shipped_dirs(kind: str) -> list[Path]:
    """The existing folders of ``kind``, highest priority first."""
    return [d for d in candidate_dirs(kind) if d.is_dir()]


def shipped_dir(kind: str) -> Path:
    """The first existing folder of ``kind``; NotShipped naming every place looked if none."""
    dirs = shipped_dirs(kind)
    if not dirs:
        raise NotShipped(f"{kind} folder", candidate_dirs(kind))
    return dirs[0]


def shipped_file(kind: str, name: str) -> Path:
    """The first file ``name`` (relative) in the folders of ``kind``; NotShipped if none."""
    for folder in shipped_dirs(kind):
        if (folder / name).is_file():
            return folder / name
    raise NotShipped(f"{kind} file {name}", [d / name for d in candidate_dirs(kind)])


def shipped_files(kind: str, pattern: str, dirs: list[Path] | None = None) -> dict[str, Path]:
    """The files matching ``pattern`` in the folders of ``kind`` (or ``dirs``), by path relative
    to their folder, sorted; a file in a higher-priority folder hides the same name below."""
    found: dict[str, Path] = {}
    for folder in shipped_dirs(kind) if dirs is None else dirs:
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                found.setdefault(path.relative_to(folder).as_posix(), path)
    return dict(sorted(found.items()))
