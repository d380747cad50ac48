"""Config of the ``snmp`` module: the devices polled, their credentials and SNMP modules.

Light on purpose: loading an agent config validates every device and resolves its SNMP modules
(YAML files) without importing pysnmp. Example::

    snmp:
      devices:
        - {name: core-switch, address: "192.0.2.2:161", version: 2c,
           community_file: /etc/commune-agent/community, modules: [if_mib, system]}
        - name: vc-room
          address: "192.0.2.3:161"
          version: 3
          v3: {username: monitor, security_level: authPriv, auth_protocol: SHA256,
               auth_passphrase_file: auth.txt, priv_protocol: AES,
               priv_passphrase_env: VC_PRIV}
          modules: [system, vc/poly]
          bulk: false          # cheap devices time out on GETBULK
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from agent.modules.base import ModuleConfig
from agent.modules.snmp.definitions import Definition, load_definitions
from common.schema import ConfigError, ExistingFile, HostPort, Invalid
from common.units import Duration

AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "AES", "AES192", "AES256"]
SecurityLevel = Literal["noAuthNoPriv", "authNoPriv", "authPriv"]
DEFAULT_TIMEOUT = Duration(2)


class Secret(str):
    """A credential: its repr and str never show the value (it must not reach a log)."""

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def reveal(self) -> str:
        """The value itself, for the SNMP engine only."""
        return str.__str__(self)


def read_secret(file: str | None, env: str | None, what: str) -> Secret | None:
    """A secret from a file (first line, stripped) or an environment variable; None if neither."""
    if file:
        text = Path(file).read_text(encoding="utf-8").splitlines()
        return Secret(text[0].strip() if text else "")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ValueError(f"{what}: environment variable {env!r} is not set; export it in "
                             "the agent's environment or use the *_file key")
        return Secret(value)
    return None


def _check_env(env: str | None, key: str) -> None:
    if env is not None and env not in os.environ:
        raise Invalid(f"environment variable {env!r} is not set; export it for the agent or "
                      f"use the *_file key instead", key=key)


@dataclass(frozen=True)
class V3Auth:
    """SNMPv3 USM credentials; passphrases come only from files or environment variables."""

    username: str
    security_level: SecurityLevel = "authPriv"
    auth_protocol: AuthProtocol = "SHA"
    auth_passphrase_file: ExistingFile | None = None
    auth_passphrase_env: str | None = None
    priv_protocol: PrivProtocol = "AES"
    priv_passphrase_file: ExistingFile | None = None
    priv_passphrase_env: str | None = None
    context_name: str = ""

    def __post_init__(self) -> None:
        needs_auth = self.security_level != "noAuthNoPriv"
        needs_priv = self.security_level == "authPriv"
        if needs_auth and not (self.auth_passphrase_file or self.auth_passphrase_env):
            raise Invalid(f"security_level {self.security_level} needs auth_passphrase_file "
                          "or auth_passphrase_env", key="security_level")
        if needs_priv and not (self.priv_passphrase_file or self.priv_passphrase_env):
            raise Invalid("security_level authPriv needs priv_passphrase_file or "
                          "priv_passphrase_env", key="security_level")
        _check_env(self.auth_passphrase_env, "auth_passphrase_env")
        _check_env(self.priv_passphrase_env, "priv_passphrase_env")

    def auth_passphrase(self) -> Secret | None:
        """The authentication passphrase (read now)."""
        return read_secret(self.auth_passphrase_file, self.auth_passphrase_env, "auth passphrase")

    def priv_passphrase(self) -> Secret | None:
        """The privacy passphrase (read now)."""
        return read_secret(self.priv_passphrase_file, self.priv_passphrase_env, "priv passphrase")


@dataclass(frozen=True)
class Device:
    """One polled device: an SNMP agent (``address``) and/or an HTTP status API (``url``)."""

    name: str
    modules: tuple[str, ...]
    address: HostPort | None = None
    version: str = "2c"
    community_file: ExistingFile | None = None
    community_env: str | None = None
    v3: V3Auth | None = None
    timeout: Duration = DEFAULT_TIMEOUT
    retries: int = 1
    max_repetitions: int = 25
    bulk: bool = True
    # native: our lean v1/v2c client (several times faster); pysnmp: pysnmp for everything;
    # auto: native for v1/v2c, pysnmp for v3.
    backend: Literal["auto", "native", "pysnmp"] = "auto"
    url: str | None = None  # base URL of an HTTP status API (http_json / http_xml modules)
    username: str | None = None
    password_file: ExistingFile | None = None
    password_env: str | None = None
    ca_file: ExistingFile | None = None  # CA of a self-signed HTTPS API
    insecure_skip_verify: bool = False  # accept any certificate (named flag, off by default)
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.version not in ("1", "2c", "3"):
            raise Invalid(f"expected SNMP version 1, 2c or 3, got {self.version!r}",
                          key="version")
        if self.version == "3" and self.v3 is None:
            raise Invalid("version 3 needs a 'v3' mapping (username, security_level...)",
                          key="v3")
        if self.version != "3" and self.v3 is not None:
            raise Invalid("'v3' is only used with version: 3", key="v3")
        if self.backend == "native" and self.version == "3":
            raise Invalid("the native backend speaks v1/v2c only; use backend: pysnmp (or "
                          "auto) for version 3", key="backend")
        if self.timeout <= 0:
            raise Invalid("must be greater than 0s", key="timeout")
        if not 0 <= self.retries <= 10:
            raise Invalid(f"expected 0..10 retries, got {self.retries}", key="retries")
        if not 1 <= self.max_repetitions <= 200:
            raise Invalid(f"expected 1..200, got {self.max_repetitions}", key="max_repetitions")
        if not self.modules:
            raise Invalid("list at least one SNMP module, e.g. [if_mib, system]", key="modules")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise Invalid(f"expected an http:// or https:// URL, got {self.url!r}", key="url")
        _check_env(self.community_env, "community_env")
        _check_env(self.password_env, "password_env")

    @property
    def timeout_budget(self) -> float:
        """The longest one request may take with its retries."""
        return float(self.timeout) * (self.retries + 1)

    def community(self) -> Secret:
        """The v1/v2c community (read now); 'public' when none is configured."""
        return read_secret(self.community_file, self.community_env, "community") or Secret(
            "public")

    def password(self) -> Secret | None:
        """The HTTP API password (read now), if any."""
        return read_secret(self.password_file, self.password_env, "password")


@dataclass(frozen=True)
class TrapConfig:
    """``modules.snmp.traps``: the optional trap listener (v1/v2c traps and informs)."""

    listen: HostPort  # e.g. "0.0.0.0:162" (port 162 needs root or CAP_NET_BIND_SERVICE)
    community_files: tuple[ExistingFile, ...] = ()
    community_envs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for env in self.community_envs:
            _check_env(env, "community_envs")

    def communities(self) -> list[Secret]:
        """The accepted communities (read now); 'public' when none is configured."""
        found = [read_secret(f, None, "community") for f in self.community_files] + \
            [read_secret(None, e, "community") for e in self.community_envs]
        return [c for c in found if c is not None] or [Secret("public")]


@dataclass(frozen=True)
class SnmpConfig(ModuleConfig):
    """``modules.snmp``: the devices, extra folders of SNMP module files, the trap listener."""

    devices: tuple[Device, ...] = ()
    module_paths: tuple[str, ...] = ()
    traps: TrapConfig | None = None
    definitions: dict[str, Definition] = field(default_factory=dict, init=False, compare=False)

    def __post_init__(self) -> None:
        if not self.devices and self.traps is None:
            raise Invalid("configure 'devices' to poll, or 'traps' to listen", key="devices")
        names = [d.name for d in self.devices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise Invalid(f"duplicate device names: {', '.join(duplicates)}", key="devices")
        wanted = [m for device in self.devices for m in device.modules]
        try:
            loaded = load_definitions(wanted, self.module_paths)
        except ConfigError as exc:
            raise Invalid("errors in SNMP module files:\n    " + "\n    ".join(
                str(i) for i in exc.issues), key="devices") from None
        self.definitions.update(loaded)
        for device in self.devices:
            for name in device.modules:
                kind = loaded[name].kind
                if kind == "snmp" and device.address is None:
                    raise Invalid(f"device {device.name!r}: module {name!r} polls SNMP and "
                                  "needs 'address: host:port'", key="devices")
                if kind != "snmp" and device.url is None:
                    raise Invalid(f"device {device.name!r}: module {name!r} reads an HTTP API "
                                  "and needs 'url: http://host:port'", key="devices")
