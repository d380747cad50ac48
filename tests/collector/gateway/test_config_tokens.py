"""A gateway config with no token is valid: it serves, and refuses every push with 401."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from collector.gateway.config import load_gateway_config
from common.schema import ConfigError
from tests.support.paths import ROOT
from tests.support.push_peers import Gateway

NO_TOKENS = "receivers:\n  - url: http://127.0.0.1:9090/api/v1/write\ntokens: []\n"


@pytest.mark.parametrize("text", [NO_TOKENS, NO_TOKENS.replace("tokens: []\n", "")])
def test_no_token_is_a_valid_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text(text)
    assert load_gateway_config(str(path)).tokens == ()


def test_other_problems_are_still_errors_without_tokens(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text(NO_TOKENS.replace("http://127.0.0.1:9090", "ftp://x"))
    with pytest.raises(ConfigError, match=r"receivers\[0\]\.url: expected an http\(s\) URL"):
        load_gateway_config(str(path))
    path.write_text("receivers:\n  - url: http://a:1/w\n  - url: http://a:1/w\ntokens: []\n")
    with pytest.raises(ConfigError, match="two receivers have the same name"):
        load_gateway_config(str(path))


def test_a_gateway_without_tokens_serves_401(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text(NO_TOKENS)
    gateway = Gateway(path, tmp_path)
    try:
        request = urllib.request.Request(f"{gateway.url}/api/v1/write", data=b"x",
                                         headers={"Authorization": "Bearer nobody"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        assert "no token configured: every push is refused (401)" in gateway.log()
    finally:
        gateway.stop()


@pytest.mark.parametrize("path", ["deploy/README.md", "deploy/install-collector.sh",
                                  "deploy/systemd/commune-collector-gateway-restart.service"])
def test_the_deploy_docs_do_not_say_the_gateway_refuses_to_start(path: str) -> None:
    # It starts with no token and answers every push 401 (the test above).
    text = " ".join((ROOT / path).read_text().replace("#", " ").split())
    assert "refuses to start" not in text
