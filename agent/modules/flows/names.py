"""Names of LAN hosts, for the ``host`` label: by address, or by MAC through the neighbour table.

Names come from the config's ``names`` and from ``names_file`` (a YAML mapping written by hand
or by the collector's render from the inventory's nodes). A key is an address or a MAC address;
a MAC is the security module's way of knowing a device (``neighbours.known``), and is matched
through the kernel's neighbour table (``/proc/net/arp``) at each collection. A host without a
name is shown by its address.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from agent.modules.security.config import normalise_mac
from agent.modules.security.neighbours import parse_proc_arp
from common import yamlnodes
from common.filetext import INVENTORY_MAX_BYTES
from common.schema import ConfigError, ConfigIssue, read_config_text, yaml_config_error

log = logging.getLogger(__name__)
PROC_ARP = Path("/proc/net/arp")
#: A names file may be rendered from the whole inventory: it is capped as an inventory is.
NAMES_MAX_BYTES = INVENTORY_MAX_BYTES


def read_names_file(path: str) -> dict[str, str]:
    """The address/MAC -> name mapping of a names file; raise ConfigError naming the file."""
    text = read_config_text(Path(path), NAMES_MAX_BYTES, "a names file")
    try:
        data = yamlnodes.load(text)
    except yamlnodes.YamlProblem as exc:
        raise yaml_config_error(path, exc) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, [ConfigIssue(
            path, 0, 0, "", f"expected a mapping of address or MAC to name, like "
                            f"'192.168.1.20: ketoan-pc', got a {type(data).__name__}")])
    return {str(k): str(v) for k, v in data.items()}


class HostNames:
    """Address (packed bytes) -> the ``host`` label."""

    def __init__(self, names: dict[str, str], arp: Path = PROC_ARP) -> None:
        self.by_address: dict[bytes, str] = {}
        self.by_mac: dict[str, str] = {}
        for key, name in names.items():
            try:
                self.by_address[ipaddress.ip_address(key.strip()).packed] = name
                continue
            except ValueError:
                pass
            try:
                self.by_mac[normalise_mac(key)] = name
            except ValueError:
                log.warning("flows: names key %r is neither an address nor a MAC address", key)
        self.arp = arp
        self._from_arp: dict[bytes, str] = {}

    def refresh(self) -> None:
        """Read the neighbour table again (only when some name is keyed by MAC)."""
        if not self.by_mac:
            return
        try:
            table = parse_proc_arp(self.arp.read_text())
        except OSError:
            return
        found = {}
        for entry in table:
            name = self.by_mac.get(entry.mac)
            if name is not None:
                try:
                    found[ipaddress.ip_address(entry.ip).packed] = name
                except ValueError:
                    continue
        self._from_arp = found

    def label(self, address: bytes) -> str:
        """The host's name, or its address."""
        return self.by_address.get(address) or self._from_arp.get(address) or \
            str(ipaddress.ip_address(address))
