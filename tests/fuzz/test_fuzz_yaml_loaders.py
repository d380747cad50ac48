"""Fuzz every file loader with YAML text and raw bytes: only the loader's own error comes out.

Inputs are raw bytes, random text, random YAML documents (keys from the real schemas, so the
typed loader goes deep), and the shipped configs mutated by inserting, deleting and replacing
spans, with fragments loaders find hard (anchors and aliases, tags, deep brackets, NUL,
BOMs, impossible dates). Each loader must return or raise ConfigError (StateFileError for
the agent's state files and the pending enrolments); nothing else, and no RecursionError. The
readers of enrolment (gateway config, inventory) and render (rule files) are fuzzed too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from agent.config import load_config
from agent.modules.logs.state import load_positions
from agent.modules.snmp.definitions import load_definition
from collector.diag.runbook import load_runbook
from collector.enrolment.files import (
    composed,
    gateway_tokens,
    read_gateway_text,
    read_inventory_text,
)
from collector.enrolment.ledger import read_ledger_file
from collector.gateway.config import load_gateway_config
from collector.inventory import load_inventory
from collector.render.rules import read_rule_file
from common.schema import ConfigError
from common.statefile import read_state_json
from common.webconfig import load_web_config
from tests.support.fuzzing import fuzz
from tests.support.paths import ROOT

WEB_CONFIG = b"""\
tls_server_config: {cert_file: cert.pem, key_file: key.pem, client_auth_type: NoClientCert}
http_server_config:
  headers: {X-Frame-Options: deny}
basic_auth_users:
  prometheus: $2b$10$hAtrxHX8SfyEj8XmbtjG0eTqQvcRHaSyXxKNR4rOvAC0MWD0xjmnW
"""
POSITIONS = b'{"files": {"portal": {"device": 1, "inode": 2, "offset": 3}}}'


def _shipped(path: str, lines: int | None = None) -> bytes:
    """A shipped file, or its first ``lines`` (mutating a short file is as good, and faster)."""
    data = (ROOT / path).read_bytes()
    return data if lines is None else b"".join(data.splitlines(keepends=True)[:lines])


# Each loader and the valid file its mutations start from.
LOADERS: dict[str, tuple[Callable[[Path], Any], bytes]] = {
    "agent": (load_config, _shipped("configs/agent/example.yml")),
    "gateway": (lambda p: load_gateway_config(str(p)), _shipped(
        "configs/gateway/example.yml").replace(b"../inventory/thanh-hoa.yml", b"inventory.yml")),
    "web": (load_web_config, WEB_CONFIG),
    "inventory": (load_inventory, _shipped("configs/inventory/thanh-hoa.yml", 50)),
    "runbook": (load_runbook, _shipped("configs/runbooks/disk-mem.yml")),
    "snmp": (load_definition, _shipped("configs/snmp/if_mib.yml", 60)),
    "logs-state": (lambda p: load_positions(str(p)), POSITIONS),
    "state-json": (read_state_json, POSITIONS),
    "enrol-gateway": (lambda p: gateway_tokens(read_gateway_text(p), p), _shipped(
        "configs/gateway/example.yml")),
    "enrol-inventory": (lambda p: composed(read_inventory_text(p), p),
                        _shipped("configs/inventory/thanh-hoa.yml", 50)),
    "ledger": (read_ledger_file, b'# pending\n- {commune: "16318", node: lan-2, sha256: "ab", '
                                 b'expires: 4102444800}\n'),
    "rule-file": (read_rule_file, _shipped("configs/prometheus/rules/vc.yml")),
}

KEYS = ("commune", "modules", "host", "probe", "targets", "name", "kind", "url", "timeout",
        "interval", "push", "receivers", "tokens", "node", "sha256", "inventory", "steps",
        "command", "expect", "match", "thresholds", "regex", "max", "params", "default",
        "province", "communes", "nodes", "role", "address", "ssh", "defaults", "code",
        "tls_server_config", "cert_file", "basic_auth_users", "http_server_config", "headers",
        "files", "device", "inode", "offset", "oids", "metrics", "oid", "type", "labels")
FRAGMENTS = ("&a ", "*a", "<<: *a", "!!python/object:os.system ", "!!binary ", "!!set ",
             "? ", "[" * 1500, "{" * 200, "- " * 300, "\x00", "\ufeff", "\u202e", "\x1b[2J",
             "2024-13-45", "0x1p", "1e999", ".nan", "~", "'", '"\\', "\t", "\r", "%YAML 1.1\n",
             "---\n", "...\n", ": ", "\n  - ", "\xe9", "\U0001f600", "\\x1b", "|\n ", ">-\n ")

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(KEYS))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5)),
    max_leaves=30)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """``seed`` with a few spans inserted, deleted or replaced."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(("insert", "delete", "byte")))
        if kind == "insert":
            data[at:at] = draw(st.sampled_from(FRAGMENTS)).encode("utf-8", "surrogatepass")
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        else:
            data[at:at + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(data)


def documents(seed: bytes) -> st.SearchStrategy[bytes]:
    """Bytes for one loader: raw, text, YAML of random values, its valid file mutated."""
    dumped = values.map(lambda v: yaml.safe_dump(v, allow_unicode=True).encode())
    return st.one_of(
        st.binary(max_size=500),
        st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
        dumped, dumped.flatmap(mutated), mutated(seed), mutated(seed),
    )


@pytest.mark.parametrize("loader", list(LOADERS))
def test_loaders_raise_only_their_own_error(loader: str) -> None:
    load, seed = LOADERS[loader]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yml"
        # The files the seeds name, so that their mutations are checked beyond the paths.
        (Path(folder) / "inventory.yml").write_bytes(LOADERS["inventory"][1])
        (Path(folder) / "cert.pem").write_text("")
        (Path(folder) / "key.pem").write_text("")

        @fuzz
        @given(documents(seed))
        def check(data: bytes) -> None:
            path.write_bytes(data)
            try:
                load(path)
            except ConfigError as exc:
                assert str(exc), "an error says what is wrong"
                assert "\x1b" not in str(exc)  # quoted text is escaped for the terminal

        check()
