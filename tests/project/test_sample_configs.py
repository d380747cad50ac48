"""Each agent module has a sample in configs/agent/ that its page links and check-config takes."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.modules import MODULES

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "configs" / "agent"
COMMUNE_AGENT = Path(sys.executable).parent / "commune-agent"
LINK = re.compile(r"\]\(([^)#\s]+\.yml)\)")
IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])")
URL_HOST = re.compile(r"https?://([^/:\"'\s]+)")
# RFC 5737 documentation networks, and loopback (a check of the node itself).
ADDRESSES = tuple(ipaddress.ip_network(n) for n in
                  ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "127.0.0.0/8"))
NAMES = re.compile(r"(^|\.)example(\.(org|com|net))?$")


def configured_modules(path: Path) -> set[str]:
    """The module names under ``modules:`` of an agent config."""
    return set(yaml.safe_load(path.read_text(encoding="utf-8")).get("modules") or {})


def linked_samples(module: str) -> list[Path]:
    """The configs/agent/*.yml files the module's docs page links, in page order."""
    page = ROOT / "docs" / "agent" / f"{module}.md"
    if not page.is_file():
        return []
    found = [(page.parent / target).resolve() for target in LINK.findall(page.read_text())]
    return [p for p in found if p.parent == SAMPLES and p.is_file()]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_has_a_linked_sample_that_check_config_accepts(module: str) -> None:
    samples = [p for p in linked_samples(module) if module in configured_modules(p)]
    assert samples, (f"docs/agent/{module}.md links no sample in configs/agent/ that configures "
                     f"{module!r}: write configs/agent/{module}.yml and link it from the page")
    sample = samples[0]
    done = subprocess.run([str(COMMUNE_AGENT), "check-config", str(sample)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    modules = done.stdout.rpartition("modules: ")[2].rstrip(")\n").split(", ")
    assert module in modules, done.stdout


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.yml")), ids=lambda p: p.name)
def test_samples_use_documentation_addresses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    addresses = [a for a in IPV4.findall(text)
                 if not any(ipaddress.ip_address(a) in net for net in ADDRESSES)]
    names = [h for h in URL_HOST.findall(text) if not _is_example_host(h)]
    assert not addresses and not names, (
        f"{path.name}: use documentation addresses (192.0.2.0/24, 198.51.100.0/24, "
        f"203.0.113.0/24) and example.org names, not {addresses + names}")


def _is_example_host(host: str) -> bool:
    try:
        return any(ipaddress.ip_address(host) in net for net in ADDRESSES)
    except ValueError:
        return bool(NAMES.search(host))
