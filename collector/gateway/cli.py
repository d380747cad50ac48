"""The ``serve`` subcommand of ``commune-collector``: its arguments and how it starts."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from common.cli import Exit, Failure, UsageError, add_command, add_log_level, start_logging
from common.schema import HostPort

DEFAULT_LISTEN = ":9820"


def add_parser(sub: Any) -> None:
    """Add ``serve`` to the subcommands of commune-collector."""
    serve = add_command(sub, "serve", run, help="run the remote-write gateway agents push to")
    # The long-running service's errors read "commune-collector: ...", without "serve".
    serve.set_defaults(prog="commune-collector")
    serve.add_argument("--config.file", dest="config_file", required=True, metavar="FILE",
                       help="gateway YAML: receivers, tokens, optional inventory")
    serve.add_argument("--web.listen-address", dest="listen_address", default=DEFAULT_LISTEN,
                       metavar="HOST:PORT", help=f"where to listen (default {DEFAULT_LISTEN})")
    serve.add_argument("--web.config.file", dest="web_config_file", metavar="FILE",
                       help="exporter-toolkit web config: tls_server_config, "
                            "http_server_config.headers")
    add_log_level(serve)


def run(args: argparse.Namespace) -> Exit:
    """Load the config and serve; 2 on a config or usage error, 1 if the port is taken."""
    start_logging(args.log_level)
    from collector.gateway.config import load_gateway_config
    from collector.province_files import require_gateway

    require_gateway(Path(args.config_file), "--config.file")
    try:
        listen = HostPort.parse(args.listen_address)
        config = load_gateway_config(args.config_file)
        web_config = None
        if args.web_config_file:
            from common.webconfig import load_web_config

            web_config = load_web_config(args.web_config_file)
            if web_config.basic_auth_users:
                raise ValueError(f"{args.web_config_file}: basic_auth_users is not used by the "
                                 "gateway (agents send bearer tokens); remove it")
        from collector.gateway.http import serve

        return Exit(serve(config, listen, web_config))
    except ValueError as exc:  # bad listen address, or tokens not in the inventory
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise Failure(f"cannot listen on {args.listen_address!r}: {exc.strerror}; "
                      "choose another --web.listen-address") from None
