"""Read positions survive an agent restart: resume, rotation while down, bad state files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.modules.logs.config import LogFile, LogsConfig
from agent.modules.logs.module import LogsModule
from common.schema import Invalid
from common.statefile import StateFileError
from tests.support.log_lines import combined


def start(log: Path, state: Path) -> LogsModule:
    return LogsModule(LogsConfig((LogFile("portal", str(log)),), state_file=str(state)))


def lines_total(logs: LogsModule) -> float:
    return next(s.value for f in logs.collect() for s in f.samples
                if s.name == "commune_logs_lines_total")


def test_restart_resumes_where_the_last_run_stopped(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "logs-state.json"
    log.write_text(combined("/old") * 5)
    first = start(log, state)
    assert lines_total(first) == 0  # the first run ever starts at the end
    with log.open("a") as f:
        f.write(combined("/a") * 3 + combined("/half").rstrip("\n"))
    assert lines_total(first) == 3
    first.close()
    saved = json.loads(state.read_text())["files"]["portal"]
    assert saved["offset"] == len((combined("/old") * 5 + combined("/a") * 3).encode())
    # Written while the agent was down, including the end of the half line.
    with log.open("a") as f:
        f.write("\n" + combined("/b") * 2)
    second = start(log, state)
    assert lines_total(second) == 3  # /half and the two /b, nothing counted twice
    second.close()


def test_rotated_while_down_reads_the_new_file_from_its_start(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "logs-state.json"
    log.write_text(combined("/old"))
    first = start(log, state)
    assert lines_total(first) == 0
    first.close()
    log.rename(tmp_path / "access.log.1")
    log.write_text(combined("/new") * 2)
    second = start(log, state)
    assert lines_total(second) == 2
    second.close()


def test_a_damaged_state_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    log, state = tmp_path / "access.log", tmp_path / "logs-state.json"
    log.write_text(combined("/old") * 4)
    state.write_text("{not json")
    with pytest.raises(StateFileError) as info:
        start(log, state)
    assert str(info.value) == (
        f"{state}:1:2: not JSON: Expecting property name enclosed in double quotes (delete the "
        "file; the logs are then followed from their end)")
    state.write_text('{"files": []}')
    with pytest.raises(StateFileError, match="unexpected content"):
        start(log, state)
    state.unlink()  # as the message says: then it is a first run, from the end
    logs = start(log, state)
    assert lines_total(logs) == 0
    assert json.loads(state.read_text())["files"]["portal"]["offset"] == log.stat().st_size
    logs.close()


def test_state_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="does not exist; create it"):
        LogsConfig((LogFile("portal", "/x"),), state_file=str(tmp_path / "nope" / "s.json"))


def test_a_number_too_large_for_an_offset_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "logs-state.json"
    state.write_text('{"files": {"portal": {"device": 0, "inode": 1e310, "offset": 0}}}')
    with pytest.raises(StateFileError, match="unexpected content"):
        start(tmp_path / "access.log", state)
