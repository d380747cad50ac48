"""A mount whose statvfs hangs in the kernel: the filesystem section answers without it.

No NFS server can run here, so the hang is a FUSE mount nobody serves (tests/support/
hung_mount.py): statfs on it blocks in the kernel until the mount is released, as on a hard NFS
mount whose server went away. It needs root and /dev/fuse, and runs in a mount namespace of its
own (``unshare``), so the machine never sees the mount.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from common.schema import ConfigError
from tests.support.hung_mount import in_mount_namespace
from tests.support.paths import script

pytestmark = pytest.mark.peer


def _scenario(base: Path) -> dict[str, Any]:
    done = in_mount_namespace([sys.executable, "-m", "tests.agent.modules.host.hung_mount_run",
                               str(base)])
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_hung_mount_is_marked_the_others_reported_and_asked_again_once_it_returns(
        tmp_path: Path) -> None:
    seen = _scenario(tmp_path / "host")
    first, second, third = seen["hung"]
    for collection in seen["hung"]:
        assert collection["archive_error"] == 1
        assert collection["archive_size"] is None
        assert collection["archive_readonly"] == 0
        assert collection["root_error"] == 0 and collection["root_size"] > 0
        assert collection["stuck"] == 1
        assert collection["filesystem_ok"] == 1
        # One call outstanding for the hung mount, whatever the number of collections.
        assert collection["statvfs_threads"] == 1
    warned = [line for line in first["log"] if line.startswith("WARNING")]
    assert len(warned) == 1 and "/mnt/archive" in warned[0] and "mount_timeout" in warned[0]
    assert second["log"] == third["log"] == []  # not asked again: no new warning

    back = seen["released"]
    assert back["archive_error"] == 0 and back["archive_size"] > 0
    assert back["stuck"] == 0 and back["statvfs_threads"] == 0
    assert any("returned after" in line and "/mnt/archive" in line for line in back["log"])
    print("collection seconds:", [round(c["seconds"], 3) for c in seen["hung"]],
          round(back["seconds"], 3))


def test_the_agent_answers_once_with_a_hung_mount(tmp_path: Path) -> None:
    """``commune-agent once`` prints the exposition and exits, the hung call left behind."""
    base = tmp_path / "host"
    mounts = base / "proc/1/mounts"
    mounts.parent.mkdir(parents=True)
    mounts.write_text("/dev/vda / ext4 rw 0 0\nnas:/export /mnt/nas nfs4 rw,hard 0 0\n")
    hung = base / "root/mnt/nas"
    hung.mkdir(parents=True)
    config = tmp_path / "agent.yml"
    config.write_text(f"""commune: "16318"
modules:
  host: {{procfs: "{os.fspath(base / 'proc')}", rootfs: "{os.fspath(base / 'root')}",
          mount_timeout: 1s}}
""")
    done = in_mount_namespace([sys.executable, "-m", "tests.support.hung_mount", str(hung), "--",
                               script("commune-agent"), "once", "--config.file", str(config)])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("node_filesystem_device_error{")
               and 'mountpoint="/mnt/nas"' in line and line.endswith(" 1.0") for line in lines)
    assert any(line.startswith("node_filesystem_device_error{")
               and 'mountpoint="/"' in line and line.endswith(" 0.0") for line in lines)
    assert any(line.startswith("commune_host_filesystem_stuck_mounts{")
               and line.endswith(" 1.0") for line in lines)
    assert "/mnt/nas" in done.stderr and "mount_timeout" in done.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("mount_timeout: 0s", "3:25: modules.host.mount_timeout: must be greater than 0s"),
    ("mount_timeout: 5x", "3:25: modules.host.mount_timeout: expected a duration"),
])
def test_mount_timeout_errors_name_the_line_and_key(tmp_path: Path, text: str,
                                                    expected: str) -> None:
    path = tmp_path / "agent.yml"
    path.write_text(f'commune: "16318"\nmodules:\n  host: {{{text}}}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert expected in str(caught.value)
