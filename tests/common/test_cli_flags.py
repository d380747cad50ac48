"""The flag parsers the console scripts share: one sentence naming the flag, exit 2."""

from __future__ import annotations

import argparse

import pytest

from common.cli import (
    FlagError,
    UsageError,
    add_log_level,
    duration_flag,
    flag_type,
    flag_value,
    url_flag,
)
from common.schema import HostPort
from common.units import Duration


def test_a_bad_duration_names_the_flag() -> None:
    assert duration_flag("--refresh", "1m30s") == 90.0
    assert duration_flag("--valid", "0s") == 0.0
    with pytest.raises(FlagError) as caught:
        duration_flag("--refresh", "5x")
    assert (caught.value.flag, str(caught.value)) == (
        "--refresh", "--refresh: expected a duration like '10s', '1m30s' or '500ms', got '5x'")
    assert isinstance(caught.value, UsageError)
    with pytest.raises(FlagError, match=r"^--query\.timeout: expected a duration above 0, "
                                        r"got '0s'$"):
        duration_flag("--query.timeout", "0s", above_zero=True)


def test_a_url_loses_its_trailing_slash_and_a_bad_one_names_the_flag() -> None:
    assert url_flag("--prometheus", "http://127.0.0.1:9090/") == "http://127.0.0.1:9090"
    assert url_flag("--prometheus", "https://prom.example/x/") == "https://prom.example/x"
    for bad in ("localhost:9090", "http://", "http:// x", "ftp://x"):
        with pytest.raises(FlagError) as caught:
            url_flag("--prometheus", bad)
        assert str(caught.value) == (f"--prometheus: expected a URL like "
                                     f"'http://127.0.0.1:9090', got {bad!r}")


def test_flag_value_names_the_flag() -> None:
    assert flag_value(HostPort.parse, "--web.listen-address", ":9830").port == 9830
    with pytest.raises(FlagError, match=r"^--web\.listen-address: expected 'host:port'"):
        flag_value(HostPort.parse, "--web.listen-address", "9830")


def test_flag_type_is_argparse_error_for_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="prog")
    parser.add_argument("--max-for", type=flag_type(Duration.parse))
    assert parser.parse_args(["--max-for", "30s"]).max_for == 30.0
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--max-for", "30x"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "prog: error: argument --max-for: expected a duration like '10s', '1m30s' or '500ms', "
        "got '30x'")


def test_log_level_takes_prometheus_levels(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="prog")
    add_log_level(parser)
    assert parser.parse_args([]).log_level == "info"
    assert parser.parse_args(["--log.level", "warn"]).log_level == "warn"
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--log.level", "verbose"])
    assert exit_.value.code == 2
    assert "argument --log.level: invalid choice: 'verbose'" in capsys.readouterr().err
