"""The registry of the agent's modules: one line per module, looked up by its YAML name."""

from __future__ import annotations

from agent.modules.base import ModuleInfo
from agent.modules.host_config import HostConfig
from agent.modules.logs.config import LogsConfig
from agent.modules.probe.config import ProbeConfig
from agent.modules.security.config import SecurityConfig
from agent.modules.snmp.config import SnmpConfig

MODULES: dict[str, ModuleInfo] = {
    info.name: info
    for info in (
        ModuleInfo("host", HostConfig, "agent.modules.host:HostModule"),
        ModuleInfo("probe", ProbeConfig, "agent.modules.probe.module:ProbeModule"),
        ModuleInfo("logs", LogsConfig, "agent.modules.logs.module:LogsModule"),
        ModuleInfo("security", SecurityConfig, "agent.modules.security.module:SecurityModule"),
        ModuleInfo("snmp", SnmpConfig, "agent.modules.snmp.module:SnmpModule"),
    )
}
