"""A mount whose statvfs never returns, like a hard NFS mount whose server is gone, with no server.

A FUSE mount whose device nobody reads: the kernel queues the mount's INIT request, and every
later request on the mount (statfs included) waits for INIT to be answered, in the kernel, as a
call on a hung NFS or CIFS mount waits for its server. :meth:`HungMount.release` detaches the
mount and closes the device: the blocked call returns ENOTCONN and the folder below is an
ordinary folder again.

It needs root and /dev/fuse, and is used only inside a mount namespace of its own
(:func:`in_mount_namespace` runs a command there), so the machine never sees the mount and a
killed run leaves nothing mounted.

    $ python -m tests.support.hung_mount DIR -- commune-agent once --config.file agent.yml
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.peers import require_binary

MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


class HungMount:
    """A FUSE mount at ``path`` that never answers, until :meth:`release`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = os.open("/dev/fuse", os.O_RDWR)
        options = f"fd={self.fd},rootmode=40000,user_id=0,group_id=0"
        if _libc.mount(b"hung", bytes(path), b"fuse", 0, options.encode()) != 0:
            errno = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(errno, f"mount fuse at {path}: {os.strerror(errno)}")

    def release(self) -> None:
        """Detach the mount and close its device: calls waiting on it return ENOTCONN."""
        if self.fd is None:
            return
        _libc.umount2(bytes(self.path), MNT_DETACH)
        os.close(self.fd)
        self.fd = None


def in_mount_namespace(args: Sequence[str], timeout: float = 60.0
                       ) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a private mount namespace of its own, from the repository's root."""
    unshare = require_binary("unshare")
    return subprocess.run([unshare, "--mount", "--propagation", "private", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          check=False)


def main(argv: list[str]) -> int:
    """``python -m tests.support.hung_mount DIR -- COMMAND...``: COMMAND's exit status."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m tests.support.hung_mount DIR -- COMMAND...", file=sys.stderr)
        return 2
    mount = HungMount(Path(argv[0]))
    try:
        return subprocess.run(argv[2:], check=False).returncode
    finally:
        mount.release()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
