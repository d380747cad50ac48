"""The security checks' state files (auth positions, first-seen neighbours, journal cursor):
a damaged one is refused at start with one line saying to delete it, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.modules.security.auth import AuthCheck
from agent.modules.security.config import AuthConfig, JournalConfig, NeighboursConfig
from agent.modules.security.journal import CURSOR_MAX_BYTES, JournalReader
from agent.modules.security.neighbours import NeighboursCheck
from common.statefile import StateFileError
from tests.support.hostile_files import CASES, write_hostile

Build = Callable[[Path], object]
CHECKS: dict[str, tuple[str, str, Build]] = {
    "auth": ("auth-positions.json", '{"/var/log/auth.log": {"dev": 1, "ino": 2, "offset": 3}}',
             lambda d: AuthCheck(AuthConfig(files=(str(d / "auth.log"),)), str(d))),
    "neighbours": ("neighbours.json", '{"52:54:00:12:34:56": 1700000000.0}',
                   lambda d: NeighboursCheck(NeighboursConfig(), str(d), table=list)),
    "journal": ("journal-cursor.txt", '"s=0123;i=1;b=2"',
                lambda d: JournalReader(JournalConfig(), str(d))),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("check", list(CHECKS))
def test_hostile_state_file_is_refused(check: str, case: str, tmp_path: Path) -> None:
    name, good, build = CHECKS[check]
    is_json = check != "journal"
    if case == "deep" and not is_json:
        case = "oversize"  # a cursor is one line of text: nothing nests
    expected = write_hostile(tmp_path / name, case, good, json=is_json)
    if check == "journal" and case == "oversize":
        expected = f"over the {CURSOR_MAX_BYTES // 1024} KiB limit"
    with pytest.raises(StateFileError) as info:
        build(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / name))
    assert expected in message and "(delete the file; " in message


@pytest.mark.parametrize("check", list(CHECKS))
def test_a_good_state_file_is_read(check: str, tmp_path: Path) -> None:
    name, good, build = CHECKS[check]
    (tmp_path / name).write_text(good)
    built = build(tmp_path)
    if isinstance(built, NeighboursCheck):
        assert built.first_seen == {"52:54:00:12:34:56": 1700000000.0}
    elif isinstance(built, JournalReader):
        assert built.cursor == '"s=0123;i=1;b=2"'
    else:
        assert isinstance(built, AuthCheck)
        assert built.tails[0].path == str(tmp_path / "auth.log")


def test_wrong_content_in_valid_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "neighbours.json").write_text('{"not a mac": 1}')
    with pytest.raises(StateFileError, match="not a neighbours file"):
        NeighboursCheck(NeighboursConfig(), str(tmp_path), table=list)
    (tmp_path / "auth-positions.json").write_text("[1, 2]")
    with pytest.raises(StateFileError, match="not a positions file"):
        AuthCheck(AuthConfig(files=(str(tmp_path / "auth.log"),)), str(tmp_path))
