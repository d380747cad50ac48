"""commune-diag: run diagnostic runbooks over SSH on one node, a commune or the whole fleet.

Example::

    $ commune-diag run disk-mem --commune 14797 --inventory configs/inventory/thanh-hoa.yml
    HOST         STATUS  root-fs  fullest-fs  inodes  memory  swap  load  TIME
    -----------  ------  -------  ----------  ------  ------  ----  ----  ----
    14797/lan-1  FAILED  FAIL     FAIL        ok      ok      ok    ok    0.4s

    Problems:
      14797/lan-1 (commune-diag@10.38.1.10) root-fs: fail: 97 is above the maximum 90
          | 97% /
      14797/lan-1 (commune-diag@10.38.1.10) fullest-fs: fail: 97 is above the maximum 90
          | used_percent=97 on /

    disk-mem: 1 hosts, 0 ok, 1 failed, 0 unreachable, 0 not run in 0.4s

Exit codes: 0 all passed, 1 some check failed, 2 usage or config error, 3 some host
unreachable (or not diagnosed in time), 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.diag.report import Progress, exit_code, write_json, write_table
from collector.diag.runbook import (
    Runbook,
    default_runbook_dirs,
    find_runbook,
    list_runbook_files,
    load_runbook,
)
from collector.diag.runner import Target, run_fleet
from collector.diag.ssh import SshSettings, parse_host
from collector.diag.targets import DEFAULT_ROLES
from common import __version__
from common.cli import Exit, UsageError, add_command, dispatch
from common.schema import ConfigError
from common.shipped import candidate_dirs


@dataclass(frozen=True)
class RunOptions:
    """What ``commune-diag run`` was asked to do."""

    runbook: Runbook
    targets: list[Target]
    params: dict[str, str]
    settings: SshSettings
    concurrency: int
    host_timeout: float | None
    total_timeout: float | None
    as_json: bool
    textfile: str | None
    progress: bool


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of commune-diag."""
    parser = argparse.ArgumentParser(
        prog="commune-diag", description="Run diagnostic runbooks on commune nodes over SSH.")
    parser.add_argument("--version", action="version", version=f"commune-diag {__version__}")
    sub = parser.add_subparsers(metavar="COMMAND")
    runbooks_help = "folder of runbooks (repeatable; then $COMMUNE_DIAG_RUNBOOKS, " \
                    "/etc/commune-collector/runbooks, the shipped runbooks)"

    run = add_command(sub, "run", cmd_run, help="run a runbook on nodes")
    run.add_argument("runbook", metavar="RUNBOOK", help="runbook name (see 'list') or file")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", action="append", metavar="[USER@]HOST[:PORT]",
                       help="a node by address or ~/.ssh/config alias (repeatable)")
    where.add_argument("--commune", action="append", metavar="CODE",
                       help="every node of a commune in the inventory (repeatable)")
    where.add_argument("--all", action="store_true", help="every node in the inventory")
    run.add_argument("--inventory", metavar="FILE", help="the province inventory YAML")
    run.add_argument("--node", action="append", default=[], metavar="NAME",
                     help="only nodes with this name (repeatable)")
    run.add_argument("--role", action="append", metavar="ROLE",
                     help=f"only nodes with this role (default: {', '.join(DEFAULT_ROLES)})")
    run.add_argument("--param", action="append", type=_param, default=[], metavar="NAME=VALUE",
                     help="set a runbook parameter (repeatable)")
    run.add_argument("--json", action="store_true", help="print the report as JSON")
    run.add_argument("--textfile", metavar="FILE",
                     help="also write Prometheus metrics to FILE (atomically)")
    ssh = run.add_argument_group("SSH")
    ssh.add_argument("--user", "-l", help="log in as USER (default: inventory, ssh config, you)")
    ssh.add_argument("--identity", "-i", action="append", default=[], metavar="FILE",
                     help="private key file (repeatable; default: ssh-agent and ~/.ssh/id_*)")
    ssh.add_argument("--known-hosts", action="append", default=[], metavar="FILE",
                     help="known_hosts file (repeatable; default: ~/.ssh/known_hosts)")
    ssh.add_argument("--jump", "-J", metavar="[USER@]HOST[:PORT][,...]",
                     help="jump host(s), like ssh -J; 'none' ignores ProxyJump in ssh config")
    ssh.add_argument("--ssh-config", "-F", default="~/.ssh/config", metavar="FILE",
                     help="ssh client config to honour (default: ~/.ssh/config)")
    ssh.add_argument("--password-file", metavar="FILE",
                     help="read the SSH password from FILE (first line)")
    ssh.add_argument("--ask-password", action="store_true", help="prompt for the SSH password")
    ssh.add_argument("--no-agent", action="store_true", help="do not use ssh-agent")
    limits = run.add_argument_group("limits")
    limits.add_argument("--concurrency", "-c", type=_count, default=16, metavar="N",
                        help="hosts at a time (default: 16)")
    limits.add_argument("--connect-timeout", type=_positive, default=10.0, metavar="SECONDS",
                        help="TCP connect + SSH handshake + login, per host (default: 10)")
    limits.add_argument("--timeout", type=_positive, metavar="SECONDS",
                        help="per host, all steps included (default: connect + step timeouts)")
    limits.add_argument("--total-timeout", type=_positive, metavar="SECONDS",
                        help="the whole run; hosts not finished are reported as not run")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: when stderr is a terminal)")
    run.add_argument("--runbooks", action="append", default=[], metavar="DIR",
                     help=runbooks_help)

    lst = add_command(sub, "list", cmd_list, help="list the runbooks")
    lst.add_argument("--runbooks", action="append", default=[], metavar="DIR",
                     help=runbooks_help)
    lst.add_argument("--json", action="store_true", help="print as JSON")

    hosts = add_command(sub, "hosts", cmd_hosts, help="list the nodes of the inventory")
    hosts.add_argument("--inventory", required=True, metavar="FILE")
    hosts.add_argument("--commune", action="append", default=[], metavar="CODE")
    hosts.add_argument("--json", action="store_true", help="print as JSON")

    check = add_command(sub, "check", cmd_check, help="validate runbook files")
    check.add_argument("files", nargs="+", metavar="RUNBOOK")
    return parser


def _dirs(extra: Sequence[str]) -> list[Path]:
    return [Path(d) for d in extra] + default_runbook_dirs()


def _targets(args: argparse.Namespace) -> list[Target]:
    if args.host:
        targets = []
        for spec in args.host:
            try:
                parse_host(spec)
            except ValueError as exc:
                raise UsageError(f"--host: {exc}") from None
            targets.append(Target(host=spec))
        return targets
    if not args.inventory:
        raise UsageError("--commune and --all need --inventory FILE "
                         "(e.g. configs/inventory/thanh-hoa.yml)")
    from collector.diag.targets import select
    from collector.inventory import UnknownCommune, load_inventory
    inventory = load_inventory(args.inventory)
    try:
        return select(inventory, args.commune or (), args.node, args.role or DEFAULT_ROLES)
    except UnknownCommune as exc:
        raise UsageError(f"--commune: {exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError) as exc:
            raise UsageError(f"--password-file {args.password_file}: cannot read a password "
                             f"({exc or 'empty file'})") from None
    if args.ask_password:
        return getpass.getpass("SSH password: ")
    return None


def parse_run(args: argparse.Namespace) -> RunOptions:
    """Turn ``run`` arguments into RunOptions; raise UsageError or ConfigError."""
    try:
        book = load_runbook(find_runbook(args.runbook, _dirs(args.runbooks)))
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    params = dict(args.param)
    targets = _targets(args)
    try:
        book.check_overrides(params)
        for target in targets:
            book.resolve_params(params, target.facts)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for path in args.known_hosts:
        if not Path(path).is_file():
            raise UsageError(f"--known-hosts {path}: no such file")
    for path in args.identity:
        if not Path(path).expanduser().is_file():
            raise UsageError(f"--identity {path}: no such file")
    settings = SshSettings(
        user=args.user, identities=tuple(args.identity), known_hosts=tuple(args.known_hosts),
        jump=args.jump, password=_password(args), ssh_config=args.ssh_config,
        connect_timeout=args.connect_timeout, allow_agent=not args.no_agent)
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    return RunOptions(book, targets, params, settings, args.concurrency, args.timeout,
                      args.total_timeout, args.json, args.textfile, progress)


def cmd_run(args: argparse.Namespace) -> Exit:
    """``run``: the runbook on the chosen nodes (see ``run_runbook``)."""
    return run_runbook(parse_run(args))


def run_runbook(opts: RunOptions) -> Exit:
    """Run the runbook, print the report, write the metrics; return the exit code."""
    bar = Progress(len(opts.targets), sys.stderr) if opts.progress else None
    fleet = run_fleet(opts.targets, opts.runbook, opts.params, opts.settings,
                      concurrency=opts.concurrency, host_timeout=opts.host_timeout,
                      total_timeout=opts.total_timeout,
                      on_result=bar.update if bar else None)
    if bar:
        bar.close()
    if opts.as_json:
        write_json(fleet, sys.stdout)
    else:
        write_table(fleet, sys.stdout)
    sys.stdout.flush()
    if opts.textfile:
        from collector.diag.metrics import write_textfile
        try:
            write_textfile(fleet, opts.textfile)
        except OSError as exc:
            raise UsageError(f"--textfile {opts.textfile}: {exc}") from None
    return exit_code(fleet)


def cmd_list(args: argparse.Namespace) -> Exit:
    """Print the available runbooks."""
    rows = []
    errors = 0
    dirs = _dirs(args.runbooks)
    files = list_runbook_files(dirs)
    if not files:
        looked = dirs + [d for d in candidate_dirs("runbooks") if d not in dirs]
        raise UsageError(f"no runbook found (looked in {', '.join(str(d) for d in looked)}); "
                         "reinstall commune-monitor, or give --runbooks DIR")
    for path in files:
        try:
            book = load_runbook(path)
        except ConfigError as exc:
            print(f"commune-diag: {exc}", file=sys.stderr)
            errors += 1
            continue
        rows.append({"name": book.name, "steps": [s.name for s in book.steps],
                     "params": {k: p.default for k, p in book.params.items()},
                     "description": book.description, "file": str(path)})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=4)
        for r in rows:
            print(f"{r['name']:<{width}}  {len(r['steps'])} steps  {r['description']}")
    return Exit.USAGE if errors else Exit.OK


def cmd_hosts(args: argparse.Namespace) -> Exit:
    """Print the inventory's nodes and where commune-diag would connect."""
    from collector.inventory import UnknownCommune, load_inventory
    inventory = load_inventory(args.inventory)
    try:
        communes = [inventory.commune(c) for c in args.commune] or list(inventory.communes)
    except UnknownCommune as exc:
        raise UsageError(f"--commune: {exc}") from None
    rows = [{"commune": c.code, "commune_name": c.name, "node": n.name, "role": n.role,
             "ssh": n.ssh or "", "user": n.ssh_user or ""}
            for c in communes for n in c.nodes]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return Exit.OK
    for r in rows:
        print(f"{r['commune']:<6} {r['node']:<8} {r['role']:<9} {r['user']}@{r['ssh'] or '-'}"
              f"  {r['commune_name']}")
    return Exit.OK


def cmd_check(args: argparse.Namespace) -> Exit:
    """Validate runbook files."""
    status = Exit.OK
    for file in args.files:
        try:
            book = load_runbook(file)
        except ConfigError as exc:
            print(f"commune-diag: {exc}", file=sys.stderr)
            status = Exit.USAGE
        else:
            print(f"{file}: ok ({len(book.steps)} steps)")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-diag`` console script."""
    # paramiko logs a traceback for every failed handshake; the report already says why.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    parser = build_parser()
    return dispatch(parser, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
