"""A fake host tree per test (see tree.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.modules.host.tree import HostTree


@pytest.fixture
def tree(tmp_path: Path) -> HostTree:
    """procfs, sysfs and rootfs of a small fake host, in this test's tmp folder."""
    return HostTree(tmp_path)
