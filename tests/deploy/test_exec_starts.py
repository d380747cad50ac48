"""exec_starts() reads a unit's ExecStart= lines as systemd would after its drop-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.installer import exec_starts

UNIT = """\
[Unit]
Description=test
ExecStart=/not/a/service/key

[Service]
# a comment
ExecStart=/usr/bin/first --flag $ARGS
ExecStart=-/usr/bin/second 'two words' \\
    --continued
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_lines_of_the_unit_itself(tmp_path: Path):
    _write(tmp_path / "etc/systemd/system/x.service", UNIT)
    assert exec_starts(tmp_path, "x.service") == [
        ["/usr/bin/first", "--flag", "$ARGS"],
        ["/usr/bin/second", "two words", "--continued"]]


def test_an_empty_execstart_in_a_drop_in_resets_the_list(tmp_path: Path):
    _write(tmp_path / "lib/systemd/system/x.service", UNIT)
    _write(tmp_path / "etc/systemd/system/x.service.d/b.conf",
           "[Service]\nExecStart=/usr/bin/after-reset\n")
    _write(tmp_path / "etc/systemd/system/x.service.d/a.conf",
           "[Service]\nExecStart=\nExecStart=/usr/bin/own --x=1\n")
    # a.conf then b.conf (name order): the unit's two lines are cleared by a.conf.
    assert exec_starts(tmp_path, "x.service") == [["/usr/bin/own", "--x=1"],
                                                  ["/usr/bin/after-reset"]]


def test_a_drop_in_for_a_unit_of_the_machine(tmp_path: Path):
    """Debian's units are the machine's; only their drop-ins are under the root."""
    _write(tmp_path / "etc/systemd/system/nowhere-else.service.d/commune-monitor.conf",
           "[Service]\nExecStart=\nExecStart=/usr/bin/prometheus --a\n")
    assert exec_starts(tmp_path, "nowhere-else.service") == [["/usr/bin/prometheus", "--a"]]


def test_a_unit_that_is_not_installed(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.service"):
        exec_starts(tmp_path, "nowhere.service")
