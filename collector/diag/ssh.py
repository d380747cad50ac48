"""SSH connections for commune-diag: strict host keys, key/agent auth, ProxyJump, ~/.ssh/config.

Only this package imports paramiko; the agent never does.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import select
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
MAX_OUTPUT_BYTES = 64 * 1024  # per stream and step: 166 hosts x 6 steps stay small


class SshError(Exception):
    """A host could not be used; ``kind`` names the reason for reports and tests."""

    kind = "ssh"

    def __init__(self, host: str, message: str) -> None:
        super().__init__(message)
        self.host = host


class Unreachable(SshError):
    """The TCP connection (or the jump host's forwarding) failed or timed out."""

    kind = "unreachable"


class AuthFailed(SshError):
    """The node refused every key, the agent's keys and the password."""

    kind = "auth"


class UnknownHostKey(SshError):
    """The node's host key is not in known_hosts: refused, never added automatically."""

    kind = "unknown-host-key"

    def __init__(self, host: str, hostname: str, port: int, key: paramiko.PKey,
                 known_hosts: tuple[str, ...]) -> None:
        self.hostname, self.port = hostname, port
        self.key_type, self.fingerprint = key.get_name(), key.fingerprint
        target = known_hosts[0] if known_hosts else DEFAULT_KNOWN_HOSTS
        port_opt = f"-p {port} " if port != 22 else ""
        super().__init__(host, (
            f"host key of {_keyname(hostname, port)} is not in known_hosts "
            f"({', '.join(known_hosts) or DEFAULT_KNOWN_HOSTS}); refusing to connect. The node "
            f"presented {self.key_type} {self.fingerprint}: verify this fingerprint with the "
            f"node's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the node), "
            f"then add it: ssh-keyscan {port_opt}{hostname} >> {target}"))


class HostKeyChanged(SshError):
    """The node's host key differs from the one in known_hosts: refused."""

    kind = "host-key-changed"

    def __init__(self, host: str, hostname: str, port: int, got: paramiko.PKey,
                 expected: paramiko.PKey, known_hosts: tuple[str, ...]) -> None:
        self.hostname, self.port = hostname, port
        self.got, self.expected = got.fingerprint, expected.fingerprint
        target = known_hosts[0] if known_hosts else DEFAULT_KNOWN_HOSTS
        name = _keyname(hostname, port)
        super().__init__(host, (
            f"host key of {name} has CHANGED: known_hosts has {expected.get_name()} "
            f"{self.expected}, the node presented {got.get_name()} {self.got}. This may be an "
            f"attack (man in the middle) or a reinstalled node; refusing to connect. If the "
            f"change is expected, verify the new fingerprint with the node's administrator, then "
            f"run: ssh-keygen -R '{name}' -f {target} and add the new key"))


def _keyname(hostname: str, port: int) -> str:
    """The name of a host in known_hosts: ``host`` on port 22, else ``[host]:port``."""
    return hostname if port == 22 else f"[{hostname}]:{port}"


@dataclass(frozen=True)
class SshSettings:
    """What the technician chose on the command line (None: from ~/.ssh/config or defaults)."""

    user: str | None = None
    identities: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    jump: str | None = None
    password: str | None = field(default=None, repr=False)
    ssh_config: str | None = "~/.ssh/config"
    connect_timeout: float = 10.0
    allow_agent: bool = True


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect, after ~/.ssh/config and the command line are applied."""

    name: str
    hostname: str
    port: int
    user: str
    identities: tuple[str, ...] = ()
    known_hosts: tuple[str, ...] = ()
    jumps: tuple[Endpoint, ...] = ()

    def __str__(self) -> str:
        return f"{self.user}@{_keyname(self.hostname, self.port)}"


def parse_host(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (or ``[v6]:port``) -> (user, host, port)."""
    user, _, rest = spec.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):
        inner, _, tail = rest[1:].partition("]")
        host = inner
        if tail.startswith(":") and tail[1:].isdigit():
            port = int(tail[1:])
    elif rest.count(":") == 1:
        name, _, text = rest.partition(":")
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError(f"expected [user@]host[:port], got {spec!r}")
        host, port = name, int(text)
    if not host:
        raise ValueError(f"expected [user@]host[:port], got {spec!r}")
    return user or None, host, port


class Resolver:
    """Applies ~/.ssh/config (paramiko.SSHConfig) and the command line to a host."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self.config = paramiko.SSHConfig()
        if settings.ssh_config:
            path = Path(settings.ssh_config).expanduser()
            if path.is_file():
                self.config = paramiko.SSHConfig.from_path(str(path))

    def endpoint(self, spec: str, user: str | None = None, port: int | None = None,
                 with_jump: bool = True) -> Endpoint:
        """Resolve ``[user@]host[:port]``; ``user``/``port`` come from the inventory."""
        spec_user, name, spec_port = parse_host(spec)
        found = self.config.lookup(name)
        if "proxycommand" in found and with_jump and not self.settings.jump:
            raise ValueError(f"{name}: ProxyCommand in the ssh config is not supported; "
                             f"use ProxyJump (or --jump)")
        s = self.settings
        known = s.known_hosts or tuple(found.get("userknownhostsfile", DEFAULT_KNOWN_HOSTS).split())
        identities = s.identities + tuple(found.get("identityfile", []))
        jumps: tuple[Endpoint, ...] = ()
        jump_spec = s.jump if s.jump is not None else found.get("proxyjump")
        if with_jump and jump_spec and jump_spec.lower() != "none":
            jumps = tuple(self.endpoint(hop.strip(), with_jump=False)
                          for hop in jump_spec.split(",") if hop.strip())
        return Endpoint(
            name=name,
            hostname=found.get("hostname", name),
            port=spec_port or port or int(found.get("port", 22)),
            user=(s.user if with_jump else None) or spec_user or user or found.get("user")
            or getpass.getuser(),
            identities=tuple(str(Path(p).expanduser()) for p in identities),
            known_hosts=tuple(str(Path(p).expanduser()) for p in known),
            jumps=jumps)


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """Never trust a key that is not in known_hosts (paramiko's RejectPolicy, with the fix)."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        ep = self.endpoint
        raise UnknownHostKey(ep.name, ep.hostname, ep.port, key, ep.known_hosts)


@dataclass
class CommandResult:
    """What one command did: its exit code (None if killed or timed out) and output."""

    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    truncated: bool = False


class Cancelled(Exception):
    """The run was stopped (Ctrl-C or the total timeout)."""


class Connector:
    """Opens SSH clients, sharing one connection per jump host among all the threads."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._jumps: dict[tuple[Endpoint, ...], paramiko.SSHClient] = {}
        self._hop_locks: dict[tuple[Endpoint, ...], threading.Lock] = {}
        # A jump host that failed once is not retried by every host behind it.
        self._failed: dict[tuple[Endpoint, ...], Unreachable] = {}

    def connect(self, ep: Endpoint, timeout: float | None = None) -> paramiko.SSHClient:
        """A connected, authenticated client for ``ep``; raise SshError saying what to do."""
        sock: paramiko.Channel | None = None
        if ep.jumps:
            hop = self._jump(ep.jumps, timeout)
            sock = self._forward(hop, ep, ep.jumps[-1], timeout)
        return self._client(ep, sock, timeout)

    def _jump(self, chain: tuple[Endpoint, ...], timeout: float | None) -> paramiko.SSHClient:
        with self._lock:
            hop_lock = self._hop_locks.setdefault(chain, threading.Lock())
        with hop_lock:
            if chain in self._failed:
                raise self._failed[chain]
            client = self._jumps.get(chain)
            transport = client.get_transport() if client else None
            if client is not None and transport is not None and transport.is_active():
                return client
            sock = None
            if len(chain) > 1:
                sock = self._forward(self._jump(chain[:-1], timeout), chain[-1], chain[-2],
                                     timeout)
            try:
                client = self._client(chain[-1], sock, timeout)
            except SshError as exc:
                failure = Unreachable(chain[-1].name, f"jump host {chain[-1]}: {exc}")
                self._failed[chain] = failure
                raise failure from exc
            self._jumps[chain] = client
            return client

    def _forward(self, via: paramiko.SSHClient, ep: Endpoint, hop: Endpoint,
                 timeout: float | None) -> paramiko.Channel:
        transport = via.get_transport()
        if transport is None:
            raise Unreachable(ep.name, f"jump host {hop} closed the connection")
        try:
            return transport.open_channel("direct-tcpip", (ep.hostname, ep.port),
                                          ("127.0.0.1", 0), timeout=timeout)
        except (paramiko.ChannelException, paramiko.SSHException, OSError) as exc:
            raise Unreachable(ep.name, f"jump host {hop} could not reach "
                                       f"{ep.hostname}:{ep.port}: {exc}") from exc

    def _client(self, ep: Endpoint, sock: paramiko.Channel | None,
                timeout: float | None) -> paramiko.SSHClient:
        timeout = min(timeout or self.settings.connect_timeout, self.settings.connect_timeout)
        client = paramiko.SSHClient()
        for path in ep.known_hosts:
            if os.path.isfile(path):
                try:
                    client.load_host_keys(path)
                except (OSError, paramiko.SSHException, ValueError) as exc:
                    client.close()
                    raise SshError(ep.name, f"cannot read known_hosts {path}: {exc}") from exc
        if os.path.isfile(SYSTEM_KNOWN_HOSTS) and not self.settings.known_hosts:
            with contextlib.suppress(OSError, paramiko.SSHException, ValueError):
                client.load_system_host_keys(SYSTEM_KNOWN_HOSTS)
        client.set_missing_host_key_policy(_RefuseUnknown(ep))
        try:
            client.connect(
                ep.hostname, ep.port, username=ep.user, password=self.settings.password,
                key_filename=list(ep.identities) or None,  # type: ignore[arg-type]
                timeout=timeout,
                banner_timeout=timeout, auth_timeout=timeout, channel_timeout=timeout,
                allow_agent=self.settings.allow_agent, look_for_keys=not ep.identities,
                sock=sock)
        except SshError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyChanged(ep.name, ep.hostname, ep.port, exc.key, exc.expected_key,
                                 ep.known_hosts) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            how = ("check --identity, --user and that the node's authorized_keys holds your "
                   "public key")
            raise AuthFailed(ep.name, f"authentication failed for {ep}: {exc}; {how}") from None
        except paramiko.ssh_exception.NoValidConnectionsError as exc:
            client.close()
            why = "; ".join(sorted({getattr(e, "strerror", None) or str(e)
                                    for e in exc.errors.values()}))
            hint = f"is sshd listening on port {ep.port}? check the inventory's ssh: or --host"
            raise Unreachable(ep.name, f"{ep}: cannot connect: {why} ({hint})") from None
        except TimeoutError as exc:
            client.close()
            raise Unreachable(ep.name, f"{ep}: timed out after {timeout:g}s "
                                       f"(--connect-timeout): {exc}") from None
        except paramiko.SSHException as exc:
            client.close()
            if "No authentication methods available" in str(exc):
                raise AuthFailed(ep.name, f"{ep}: no key or password to offer; pass --identity "
                                          f"FILE, add your key to ssh-agent, or use "
                                          f"--password-file") from None
            raise Unreachable(ep.name, f"{ep}: {exc or type(exc).__name__}") from None
        except (OSError, EOFError) as exc:
            client.close()
            raise Unreachable(ep.name, f"{ep}: {exc or type(exc).__name__}") from None
        return client

    def close(self) -> None:
        """Close the shared jump connections."""
        with self._lock:
            for client in self._jumps.values():
                client.close()
            self._jumps.clear()


def _send_signal(channel: paramiko.Channel, name: str) -> None:
    """Ask sshd to signal the command (RFC 4254 6.9); OpenSSH >= 7.9 honours it."""
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string(name)
    send = getattr(channel.get_transport(), "_send_user_message", None)
    if send is not None:
        with contextlib.suppress(Exception):
            send(message)


def run_command(client: paramiko.SSHClient, command: str, timeout: float,
                stop: threading.Event, max_bytes: int = MAX_OUTPUT_BYTES) -> CommandResult:
    """Run ``command``; stop at ``timeout`` seconds or when ``stop`` is set (raise Cancelled)."""
    start = time.monotonic()
    deadline = start + timeout
    transport = client.get_transport()
    if transport is None or not transport.is_active():
        raise Unreachable("", "the connection was closed")
    channel = transport.open_session(timeout=max(timeout, 1.0))
    out, err = bytearray(), bytearray()
    truncated = timed_out = False
    try:
        channel.exec_command(command)
        while True:
            remaining = deadline - time.monotonic()
            if stop.is_set():
                _send_signal(channel, "KILL")
                raise Cancelled()
            if remaining <= 0:
                timed_out = True
                _send_signal(channel, "KILL")
                break
            if channel.eof_received:
                # All output is in; the exit status follows (select would spin from now on).
                channel.status_event.wait(min(remaining, 0.2))
            else:
                select.select([channel], [], [], min(remaining, 0.2))
            for ready, recv, buf in ((channel.recv_ready, channel.recv, out),
                                     (channel.recv_stderr_ready, channel.recv_stderr, err)):
                while ready():
                    data = recv(65536)
                    room = max_bytes - len(buf)
                    if len(data) > room:
                        truncated = True
                    buf += data[:room]
            if channel.exit_status_ready() and not channel.recv_ready() \
                    and not channel.recv_stderr_ready():
                break
        code = None if timed_out else channel.recv_exit_status()
    finally:
        channel.close()
    return CommandResult(
        exit_code=None if code is None or code < 0 else code,
        stdout=out.decode("utf-8", "replace"), stderr=err.decode("utf-8", "replace"),
        duration=time.monotonic() - start, timed_out=timed_out, truncated=truncated)
