"""The host module on a tree with a hung mount: run inside a mount namespace, prints what it saw.

    $ unshare --mount --propagation private python -m tests.agent.modules.host.hung_mount_run DIR

Builds a fake host tree in DIR whose mounts table has an NFS mount at ``/mnt/archive``, puts a
:class:`~tests.support.hung_mount.HungMount` there, collects three times, releases the mount,
waits for the stuck call to return and collects once more. Prints one JSON object: per
collection, the values the test checks and the log lines the module wrote.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

from agent.modules.host import HostModule
from agent.modules.host.filesystem import log as filesystem_log
from tests.agent.modules.host.tree import HostTree
from tests.support.hung_mount import HungMount
from tests.support.samples import maybe_value

ARCHIVE = {"device": "nas:/export/archive", "fstype": "nfs4", "mountpoint": "/mnt/archive"}
ROOT = {"device": "/dev/vda", "fstype": "ext4", "mountpoint": "/"}
MOUNT_TIMEOUT = 0.5


class Lines(logging.Handler):
    """The log lines of the filesystem section, kept."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.getMessage()}")


def observe(module: HostModule, lines: Lines) -> dict[str, Any]:
    """One collection and what the test checks of it."""
    start = time.monotonic()
    families = list(module.collect())
    seen = {
        "seconds": time.monotonic() - start,
        "archive_error": maybe_value(families, "node_filesystem_device_error", **ARCHIVE),
        "archive_size": maybe_value(families, "node_filesystem_size_bytes", **ARCHIVE),
        "archive_readonly": maybe_value(families, "node_filesystem_readonly", **ARCHIVE),
        "root_error": maybe_value(families, "node_filesystem_device_error", **ROOT),
        "root_size": maybe_value(families, "node_filesystem_size_bytes", **ROOT),
        "stuck": maybe_value(families, "commune_host_filesystem_stuck_mounts"),
        "filesystem_ok": maybe_value(families, "node_scrape_collector_success",
                                     collector="filesystem"),
        "statvfs_threads": sum(t.name.startswith("statvfs ") for t in threading.enumerate()),
        "log": list(lines.lines),
    }
    lines.lines.clear()
    return seen


def main(argv: list[str]) -> int:
    """Run the scenario in folder ``argv[0]``; print its JSON."""
    base = Path(argv[0])
    tree = HostTree(base)
    tree.write_mounts([("/dev/vda", "/", "ext4", "rw,relatime"),
                       ("nas:/export/archive", "/mnt/archive", "nfs4", "rw,hard")])
    archive = tree.rootfs / "mnt/archive"
    archive.mkdir(parents=True)
    lines = Lines()
    filesystem_log.addHandler(lines)
    filesystem_log.setLevel(logging.INFO)
    module = HostModule(tree.config(mount_timeout=MOUNT_TIMEOUT))
    hung = HungMount(archive)
    out: dict[str, Any] = {"hung": [observe(module, lines) for _ in range(3)]}
    hung.release()
    deadline = time.monotonic() + 10
    while module.statvfs.stuck() and time.monotonic() < deadline:
        time.sleep(0.02)
    out["released"] = observe(module, lines)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
