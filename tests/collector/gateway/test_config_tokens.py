"""A gateway config with no token: refused to serve, accepted by the tools that edit it."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.gateway.config import load_gateway_config
from common.schema import ConfigError

NO_TOKENS = "receivers:\n  - url: http://127.0.0.1:9090/api/v1/write\ntokens: []\n"


def test_serving_needs_a_token(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text(NO_TOKENS)
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(str(path))
    assert str(caught.value) == f"{path}:3:9: tokens: configure at least one token"


def test_an_edited_file_may_have_no_token_left(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text(NO_TOKENS)
    assert load_gateway_config(str(path), allow_no_tokens=True).tokens == ()


def test_other_problems_are_still_errors_without_tokens(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yml"
    path.write_text(NO_TOKENS.replace("http://127.0.0.1:9090", "ftp://x"))
    with pytest.raises(ConfigError, match=r"receivers\[0\]\.url: expected an http\(s\) URL"):
        load_gateway_config(str(path), allow_no_tokens=True)
