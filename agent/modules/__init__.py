"""The registry of the agent's modules: one line per module, looked up by its YAML name."""

from __future__ import annotations

from agent.modules.base import ModuleInfo
from agent.modules.host_config import HostConfig
from agent.modules.snmp.config import SnmpConfig

MODULES: dict[str, ModuleInfo] = {
    info.name: info
    for info in (
        ModuleInfo("host", HostConfig, "agent.modules.host:HostModule"),
        ModuleInfo("snmp", SnmpConfig, "agent.modules.snmp.module:SnmpModule"),
    )
}
