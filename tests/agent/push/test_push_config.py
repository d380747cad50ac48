"""The ``push:`` section: validated at load, and push code is imported only when configured."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.config import load_config
from common.schema import ConfigError
from tests.support.paths import ROOT


def write(tmp_path: Path, push: str) -> Path:
    (tmp_path / "token").write_text("secret\n")
    path = tmp_path / "agent.yml"
    path.write_text("commune: '14797'\nmodules: {host: {}}\npush:\n"
                    + textwrap.indent(textwrap.dedent(push), "  "))
    return path


def test_push_section_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
        url: https://collector.example:9820/api/v1/write
        token_file: token
        spool_dir: /var/lib/commune-agent/spool
    """))
    assert config.push is not None
    assert config.push.max_spool_bytes == 256 << 20
    assert config.push.token_file == str(tmp_path / "token")


@pytest.mark.parametrize(("push", "message"), [
    ("url: ftp://x\ntoken_file: token\nspool_dir: s\n",
     "agent.yml:4:8: push.url: expected an http(s) URL"),
    ("url: http://c:9820/api/v1/write\ntoken_file: nope\nspool_dir: s\n",
     "agent.yml:5:15: push.token_file: file"),
    ("url: http://c:9820/api/v1/write\ntoken_file: token\nspool_dir: s\nmax_spool_bytes: 1KiB\n",
     "agent.yml:7:20: push.max_spool_bytes: must be at least 16KiB"),
    ("url: http://c:9820/api/v1/write\ntoken_file: token\nspool_dir: s\nmax_spool_bytes: lots\n",
     "agent.yml:7:20: push.max_spool_bytes: expected a size like '256MiB'"),
])
def test_bad_push_values_name_line_and_key(tmp_path: Path, push: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, push))
    assert message in str(info.value).replace(str(tmp_path) + "/", "")


def test_push_code_is_imported_only_when_configured(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yml"
    plain.write_text("commune: '14797'\nmodules: {host: {}}\n")
    pushing = write(tmp_path, "url: http://127.0.0.1:9/api/v1/write\ntoken_file: token\n"
                              f"spool_dir: {tmp_path / 'spool'}\n")
    probe = textwrap.dedent("""
        import sys
        from agent.config import load_config
        from agent.scheduler import build_scheduler
        config = load_config(sys.argv[1])
        build_scheduler(config).stop()
        if config.push is not None:
            from agent.push.client import PushClient
            PushClient(config.push, 1.0).close()
        print(sorted(m for m in sys.modules
                     if m.split(".")[0] in ("google", "cramjam", "paramiko", "collector")
                     or m == "agent.push.client"))
    """)
    outputs = [subprocess.run([sys.executable, "-c", probe, str(path)], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout for path in (plain, pushing)]
    assert outputs[0].strip() == "[]"
    assert "agent.push.client" in outputs[1] and "cramjam" in outputs[1]
    assert "paramiko" not in outputs[1] and "collector" not in outputs[1]


def test_example_gateway_config_loads() -> None:
    from collector.gateway.config import load_gateway_config

    config = load_gateway_config(str(ROOT / "configs/gateway/example.yml"))
    assert [r.url for r in config.receivers] == ["http://127.0.0.1:9090/api/v1/write"]
    assert config.tokens[0].commune == "14797" and config.max_sample_age == 7 * 86400
    # Its inventory (the province's) gives its token the labels the alert rules use.
    from collector.gateway.ingest import inventory_labels

    assert inventory_labels(config.inventory, config.tokens)[("14797", "lan-1")] == {
        "commune_name": "Phường Hạc Thành", "region": "Thành phố Thanh Hóa",
        "terrain": "lowland", "role": "lan-node"}
