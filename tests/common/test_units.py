"""Durations and sizes as the config files write them: '1m30s', '256MiB'."""

from __future__ import annotations

import pytest

from common.units import ByteSize, Duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15), ("1m30s", 90), ("500ms", 0.5), ("2h", 7200), ("1d", 86400), ("1.5s", 1.5)])
def test_duration(text: str, seconds: float) -> None:
    assert Duration.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "s", "1m 30s", "-1s", "1y"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like '10s'"):
        Duration.parse(text)


@pytest.mark.parametrize(("text", "size"), [
    ("256MiB", 256 * 2**20), ("1GB", 10**9), ("1024", 1024), ("4 KiB", 4096), ("10B", 10)])
def test_size(text: str, size: int) -> None:
    assert ByteSize.parse(text) == size


@pytest.mark.parametrize("text", ["", "MiB", "1XB", "-1MiB", "1 mib"])
def test_bad_size(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size like '256MiB'"):
        ByteSize.parse(text)
