"""The registry of the agent's modules: one line per module, looked up by its YAML name.

Each entry's loader imports the module's code when the module is configured; only the config
classes are imported here, so loading a config pulls in no collection library.
"""

from __future__ import annotations

from typing import Any

from agent.modules.base import ModuleClass, ModuleInfo
from agent.modules.flows.config import FlowsConfig
from agent.modules.host_config import HostConfig
from agent.modules.logs.config import LogsConfig
from agent.modules.probe.config import ProbeConfig
from agent.modules.security.config import SecurityConfig
from agent.modules.snmp.config import SnmpConfig


def _host() -> ModuleClass[HostConfig]:
    from agent.modules.host import HostModule

    return HostModule


def _probe() -> ModuleClass[ProbeConfig]:
    from agent.modules.probe.module import ProbeModule

    return ProbeModule


def _logs() -> ModuleClass[LogsConfig]:
    from agent.modules.logs.module import LogsModule

    return LogsModule


def _security() -> ModuleClass[SecurityConfig]:
    from agent.modules.security.module import SecurityModule

    return SecurityModule


def _snmp() -> ModuleClass[SnmpConfig]:
    from agent.modules.snmp.module import SnmpModule

    return SnmpModule


def _flows() -> ModuleClass[FlowsConfig]:
    from agent.modules.flows.module import FlowsModule

    return FlowsModule


# Any: each entry pairs its own config class with its module, checked where it is written.
MODULES: dict[str, ModuleInfo[Any]] = {
    info.name: info
    for info in (
        ModuleInfo("host", HostConfig, _host),
        ModuleInfo("probe", ProbeConfig, _probe),
        ModuleInfo("logs", LogsConfig, _logs),
        ModuleInfo("security", SecurityConfig, _security),
        ModuleInfo("snmp", SnmpConfig, _snmp),
        ModuleInfo("flows", FlowsConfig, _flows),
    )
}
