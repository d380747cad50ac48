"""commune-agent: collect metrics of a commune's LAN node and serve them to Prometheus.

    $ commune-agent check-config agent.yml
    agent.yml: ok (commune 16318; modules: host)
    $ commune-agent --config.file agent.yml --web.listen-address 127.0.0.1:9810
    $ commune-agent once --config.file agent.yml | grep node_load1
    node_load1{commune="16318"} 0.42
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from agent.config import AgentConfig, load_config
from common import __version__
from common.cli import (
    Exit,
    UsageError,
    add_command,
    add_log_level,
    dispatch,
    flag_value,
    start_logging,
)
from common.schema import HostPort

PROG = "commune-agent"
DEFAULT_LISTEN = ":9810"
COMMANDS = ("run", "check-config", "once")


@dataclass(frozen=True)
class RunOptions:
    """What ``commune-agent run`` was asked to do."""

    config_file: str
    listen_address: HostPort
    web_config_file: str | None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Collect a commune node's metrics and serve them to Prometheus.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_log_level(parser)
    sub = parser.add_subparsers(metavar="COMMAND")
    run_p = add_command(sub, "run", _run,
                        help="collect in the background and serve /metrics (default)")
    run_p.add_argument("--config.file", dest="config_file", required=True, metavar="FILE")
    run_p.add_argument("--web.listen-address", dest="listen_address", default=DEFAULT_LISTEN,
                       metavar="HOST:PORT", help=f"where to serve (default {DEFAULT_LISTEN})")
    run_p.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                       help="exporter-toolkit web config: TLS and basic auth")
    check_p = add_command(sub, "check-config", _check_config,
                          help="validate a config file and exit (0 ok, 2 bad)")
    check_p.add_argument("file", metavar="FILE")
    once_p = add_command(sub, "once", _once, help="collect once, print the exposition and exit")
    once_p.add_argument("--config.file", dest="config_file", required=True, metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commune-agent`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("--log.level")), None)
    if first is not None and first not in COMMANDS and first not in ("-h", "--help",
                                                                       "--version"):
        args_list.insert(0, "run")  # `commune-agent --config.file X` means run
    parser = _parser()
    args = parser.parse_args(args_list)
    start_logging(args.log_level)
    return dispatch(parser, args)


def _check_config(args: argparse.Namespace) -> Exit:
    return check_config(args.file)


def _once(args: argparse.Namespace) -> Exit:
    return once(load_config(args.config_file))


def _run(args: argparse.Namespace) -> Exit:
    config = load_config(args.config_file)
    listen = flag_value(HostPort.parse, "--web.listen-address", args.listen_address)
    return run(config, RunOptions(args.config_file, listen, args.web_config_file))


def check_config(path: str) -> Exit:
    """Validate ``path`` and say so; every problem is listed with its line."""
    config = load_config(path)
    print(f"{path}: ok (commune {config.commune}; modules: "
          f"{', '.join(config.modules.names())})")
    return Exit.OK


def once(config: AgentConfig) -> Exit:
    """Collect every module once and print the exposition."""
    from agent.scheduler import build_scheduler

    scheduler = build_scheduler(config)
    try:
        asyncio.run(scheduler.collect_all())
    finally:
        scheduler.stop()
    sys.stdout.buffer.write(scheduler.snapshot.plain)
    sys.stdout.flush()
    return Exit.OK if all(run.up for run in scheduler.runs) else Exit.FAILURE


def run(config: AgentConfig, options: RunOptions) -> Exit:
    """Collect in the background and serve until SIGTERM or Ctrl-C."""
    from agent.scheduler import build_scheduler
    from agent.web import MetricsServer

    web_config = None
    if options.web_config_file:
        from common.webconfig import load_web_config

        web_config = load_web_config(options.web_config_file)
    scheduler = build_scheduler(config)
    try:
        server = MetricsServer(options.listen_address, lambda: scheduler.snapshot,
                               lambda: scheduler.ready, web_config)
    except OSError as exc:
        raise UsageError(f"cannot listen on {options.listen_address!r}: {exc.strerror}; "
                         "choose another --web.listen-address") from None
    push = None
    if config.push is not None:
        from agent.push.client import PushClient  # imported only when push is configured

        try:
            push = PushClient(config.push, config.interval, scheduler.own_families)
        except OSError as exc:
            server.server_close()
            raise UsageError(f"cannot open the spool {config.push.spool_dir}: {exc.strerror}; "
                             "make the folder writable by the agent, or set push.spool_dir "
                             "to one that is") from None
        scheduler.subscribers.append(push.collected)
        scheduler.extra.append(push.families)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if push is not None:
        push.start()
    scheduler.start()
    server.serve_in_thread()
    scheme = "https" if web_config and web_config.tls_server_config else "http"
    logging.getLogger(PROG).info(
        "commune %s: serving %s://%s/metrics (modules: %s)", config.commune, scheme,
        options.listen_address, ", ".join(config.modules.names()))
    stop.wait()
    server.shutdown()
    server.server_close()
    scheduler.stop()
    if push is not None:
        push.close()  # after the scheduler: its last collection is spooled too
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
