"""Config of the logs module: good files load; every mistake names file, line, column and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.config import load_config
from agent.modules.logs.config import DEFAULT_BUCKETS, LogsConfig
from common.schema import ConfigError
from tests.support.paths import ROOT

NGINX_TIMED = (r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) '
               r'(?P<path>[^ "]*)[^"]*" (?P<status>\d{3}) (?P<bytes>\d+) "[^"]*" '
               r'"(?P<user_agent>[^"]*)" (?P<request_time>[\d.]+)')


def load(tmp_path: Path, modules_yaml: str) -> LogsConfig:
    path = tmp_path / "agent.yml"
    path.write_text("commune: '16318'\nmodules:\n" + textwrap.indent(
        textwrap.dedent(modules_yaml).strip("\n"), "  ") + "\n")
    config = load_config(path)
    logs = config.modules.entries[0].config
    assert isinstance(logs, LogsConfig)
    return logs


def errors(tmp_path: Path, modules_yaml: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, modules_yaml)
    return [str(issue).replace(f"{tmp_path}/", "") for issue in info.value.issues]


def test_full_config_loads(tmp_path: Path) -> None:
    logs = load(tmp_path, f"""
        logs:
          interval: 10s
          files:
            - name: portal
              path: /var/log/nginx/access.log
              routes:
                - {{name: dossier, match: "^/dossier/"}}
                - {{name: "/api/{{x}}", match: "^/api/"}}
            - name: timed
              path: /var/log/nginx/timed.log
              format: regex
              regex: '{NGINX_TIMED}'
              from_start: true
              max_read_bytes: 8MiB
              buckets: [0.1, 0.5, 2]
              burst_window: 2m
              burst_threshold: 50
              top_sources: 0
    """)
    portal, timed = logs.files
    assert portal.format == "combined" and portal.from_start is False
    assert [r.name for r in portal.routes] == ["dossier", "/api/{x}"]
    assert portal.buckets == DEFAULT_BUCKETS
    assert timed.regex == NGINX_TIMED
    assert timed.max_read_bytes == 8 * 2**20
    assert timed.buckets == (0.1, 0.5, 2.0)
    assert timed.burst_window == 120.0 and timed.burst_threshold == 50
    assert timed.top_sources == 0


BAD = [
    ("logs:\n  files:\n    - {name: p, path: /x, format: json}\n",
     "agent.yml:5:37: modules.logs.files[0].format: expected one of 'combined', 'common', "
     "'regex', got 'json'"),
    ("logs:\n  files:\n    - {name: p, path: /x, format: regex}\n",
     "agent.yml:5:37: modules.logs.files[0].format: format 'regex' needs a 'regex' key with "
     "named groups (required: status, path)"),
    ("logs:\n  files:\n    - {name: p, path: /x, format: regex, regex: '(?P<status>\\d{3}'}\n",
     "agent.yml:5:51: modules.logs.files[0].regex: not a valid regular expression: "
     "missing ), unterminated subpattern at position 0"),
    ("logs:\n  files:\n    - {name: p, path: /x, format: regex, regex: '(?P<status>\\d+)'}\n",
     "agent.yml:5:51: modules.logs.files[0].regex: missing named group(s) path, "
     "e.g. (?P<status>\\d{3})"),
    ("logs:\n  files:\n    - name: p\n      path: /x\n      format: regex\n"
     "      regex: '(?P<status>\\d+) (?P<path>\\S+) (?P<url>\\S+)'\n",
     "agent.yml:8:16: modules.logs.files[0].regex: unknown named group(s) url (known: status, "
     "path, client, time, method, bytes, user_agent, request_time, duration_ms, duration_us); "
     "use (?:...) for other groups"),
    ("logs:\n  files:\n    - {name: p, path: /x, regex: '(?P<status>\\d+)'}\n",
     "agent.yml:5:36: modules.logs.files[0].regex: 'regex' is only read with format: regex "
     "(format is 'combined')"),
    ("logs:\n  files:\n    - name: p\n      path: /x\n      routes: [{name: d, match: '[a-'}]\n",
     "agent.yml:7:35: modules.logs.files[0].routes[0].match: not a valid regular expression: "
     "unterminated character set at position 0"),
    ("logs:\n  files:\n    - name: p\n      path: /x\n      routes: [{name: other, match: '^/'}]\n",
     "agent.yml:7:25: modules.logs.files[0].routes[0].name: expected a route name of letters, "
     "digits and _./{}:- (not 'other', which is kept for unmatched paths), got 'other'"),
    ("logs:\n  files:\n    - {name: 'my portal', path: /x}\n",
     "agent.yml:5:16: modules.logs.files[0].name: expected a name of letters, digits and _.- "
     "(it becomes the 'file' label), got 'my portal'"),
    ("logs:\n  files:\n    - {name: p, path: /x}\n    - {name: p, path: /y}\n",
     "agent.yml:5:7: modules.logs.files: duplicate file name(s) p; names must be unique"),
    ("logs:\n  files:\n    - {name: p, path: /x, buckets: [1, 0.5]}\n",
     "agent.yml:5:38: modules.logs.files[0].buckets: expected increasing positive bucket bounds "
     "in seconds, like [0.1, 0.5, 1, 5]"),
    ("logs:\n  files:\n    - {name: p, path: /x, top_sources: 1000}\n",
     "agent.yml:5:42: modules.logs.files[0].top_sources: expected 0 (no per-source series) to "
     "100"),
    ("logs:\n  files:\n    - {name: p, paht: /x}\n",
     "agent.yml:5:19: modules.logs.files[0].paht: unknown key (known: name, path, format, regex, "
     "routes, from_start, max_read_bytes, buckets, burst_window, burst_threshold, max_sources, "
     "top_sources)"),
    ("logs: {files: []}\n",
     "agent.yml:3:17: modules.logs.files: list at least one access log, e.g. "
     "{name: portal, path: /var/log/nginx/access.log}"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_mistakes_are_reported_with_their_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in errors(tmp_path, text)


def test_example_web_server_config_loads() -> None:
    config = load_config(ROOT / "configs/agent/tthc-web.yml")
    assert config.modules.names() == ["host", "logs"]
    logs = config.modules.entries[1].config
    assert isinstance(logs, LogsConfig)
    portal, legacy = logs.files
    assert portal.format == "regex" and portal.regex and "request_time" in portal.regex
    assert [r.name for r in portal.routes] == ["dossier", "payment", "static"]
    assert legacy.format == "combined"
    from agent.modules.logs.formats import line_format
    from tests.support.log_lines import combined
    fields = line_format(portal).regex.match(combined("/dossier/9?x=1", 201, extra=" 0.042"))
    assert fields is not None
    assert fields.group("path", "status", "request_time") == ("/dossier/9?x=1", "201", "0.042")
