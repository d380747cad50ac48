"""Enrolment codes: what ``commune-collector enrol`` hands to ``deploy/install-agent.sh``.

A code is ``cme1.`` + base64url(JSON) carrying the gateway URL, the commune code, the node name,
the node's bearer token, the code's expiry (Unix seconds) and the province targets the node
probes (the inventory's ``province_targets``, as render writes them to
``agent-probe-targets.yml``). The installer turns it into ``agent.yml`` (the host module, the
probe module over those targets, push) and a token file (mode 0600)::

    $ python -m common.enrolment write --code cme1.eyJ1Ijoi... \\
          --config /etc/commune-agent/agent.yml --token-file /etc/commune-agent/token \\
          --spool-dir /var/lib/commune-agent/spool
    wrote /etc/commune-agent/agent.yml (commune 16318, node lan-1) and /etc/commune-agent/token

The expiry is checked here, on the node, and on the province side by ``commune-collector
expire``, which removes the token of a code that expired before its node ever pushed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.statefile import write_atomically

PREFIX = "cme1."
DEFAULT_INTERVAL = "15s"
DEFAULT_SPOOL_BYTES = "256MiB"


class BadCode(ValueError):
    """An enrolment code that cannot be used; the message says what to do."""


Target = Mapping[str, Any]  # one entry of modules.probe.targets: name, kind, url or host/port


@dataclass(frozen=True)
class Enrolment:
    """What a node needs to start pushing: where, as whom, with which token, until when."""

    url: str
    commune: str
    node: str
    token: str
    expires: float
    targets: tuple[Target, ...] = ()

    def encode(self) -> str:
        """The code printed on the install line."""
        data: dict[str, Any] = {"u": self.url, "c": self.commune, "n": self.node,
                                "t": self.token, "e": int(self.expires)}
        if self.targets:
            data["p"] = [dict(t) for t in self.targets]
        raw = json.dumps(data, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(code: str, now: float | None = None) -> Enrolment:
    """Parse an enrolment code; raise BadCode if it is mangled or expired."""
    code = code.strip()
    if not code.startswith(PREFIX):
        raise BadCode(f"an enrolment code starts with {PREFIX!r}; copy the whole install line "
                      "printed by 'commune-collector enrol'")
    body = code[len(PREFIX):]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        targets = data.get("p", [])
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise ValueError("targets")
        enrolment = Enrolment(str(data["u"]), str(data["c"]), str(data["n"]), str(data["t"]),
                              float(data["e"]), tuple(targets))
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
        raise BadCode("the enrolment code is damaged (was it cut or retyped?); copy the whole "
                      "install line again") from None
    now = time.time() if now is None else now
    if enrolment.expires < now:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(enrolment.expires))
        raise BadCode(f"this enrolment code expired at {when}; ask the province for a new one "
                      f"(commune-collector enrol --commune {enrolment.commune} "
                      f"--node {enrolment.node} --reissue)")
    return enrolment


def agent_yaml(commune: str, url: str, token_file: str, spool_dir: str,
               targets: Sequence[Target] = (), interval: str = DEFAULT_INTERVAL) -> str:
    """A minimal agent.yml: the host module, the probe module over the province ``targets``
    (when there are any), pushing to ``url`` through a spool."""
    q = json.dumps  # JSON is valid YAML: a string is a double-quoted scalar, a dict a flow map
    probe = "".join(f"      - {q(dict(t), ensure_ascii=False)}\n" for t in targets)
    return (f"# commune-agent config written by the enrolment; every module and key is in\n"
            f"# share/commune-monitor/examples/agent/example.yml of the installed package.\n"
            f"commune: {q(commune)}\n"
            f"interval: {interval}\n"
            f"modules:\n"
            f"  host: {{}}\n"
            + (f"  probe:\n    # the province's services (the inventory's province_targets)\n"
               f"    targets:\n{probe}" if probe else "")
            + f"push:\n"
            f"  url: {q(url)}\n"
            f"  token_file: {q(token_file)}\n"
            f"  spool_dir: {q(spool_dir)}\n"
            f"  max_spool_bytes: {DEFAULT_SPOOL_BYTES}\n")


def write_files(enrolment: Enrolment, config: Path, token_file: Path, spool_dir: str) -> None:
    """Write agent.yml (0600) and the token file (0600) for ``enrolment``."""
    write_atomically(token_file, enrolment.token + "\n", 0o600, make_parents=True)
    write_atomically(config, agent_yaml(enrolment.commune, enrolment.url, str(token_file),
                                        spool_dir, enrolment.targets), 0o600, make_parents=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m common.enrolment write``: used by deploy/install-agent.sh."""
    parser = argparse.ArgumentParser(prog="python -m common.enrolment")
    sub = parser.add_subparsers(dest="command", required=True)
    write = sub.add_parser("write", help="write agent.yml and the token file from a code")
    write.add_argument("--code", required=True)
    write.add_argument("--config", required=True, type=Path)
    write.add_argument("--token-file", required=True, type=Path)
    write.add_argument("--spool-dir", required=True)
    args = parser.parse_args(argv)
    try:
        enrolment = decode(args.code)
    except BadCode as exc:
        print(f"enrolment: {exc}", file=sys.stderr)
        return 2
    write_files(enrolment, args.config, args.token_file, args.spool_dir)
    print(f"wrote {args.config} (commune {enrolment.commune}, node {enrolment.node}) "
          f"and {args.token_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
