"""``commune-collector reload``: ask Prometheus and Alertmanager to re-read their config.

    $ commune-collector render --inventory inv.yml --out /etc/prometheus/commune && \\
      commune-collector reload http://127.0.0.1:9090 http://127.0.0.1:9093
    reloaded http://127.0.0.1:9090 (prometheus)
    reloaded http://127.0.0.1:9093 (alertmanager)

Both take ``POST /-/reload`` (Prometheus needs ``--web.enable-lifecycle``). A config that does
not load is refused by the server, which keeps running the old one; the answer is shown.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from typing import Any

from common.cli import Exit, Failure, add_command


class ReloadFailed(Failure):
    """A server did not take its new config; the message says why."""


def reload(base_url: str, timeout: float = 30.0) -> None:
    """POST ``base_url/-/reload``; raise ReloadFailed with the server's answer unless 200."""
    url = base_url.rstrip("/") + "/-/reload"
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read(2000).decode(errors="replace").strip()
        hint = " (start Prometheus with --web.enable-lifecycle)" if exc.code == 403 else ""
        raise ReloadFailed(f"{url}: HTTP {exc.code}: {body}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ReloadFailed(f"{url}: cannot connect ({reason}); is it running?") from None


def add_parser(sub: Any) -> None:
    """Add ``reload`` to the ``commune-collector`` subparsers."""
    p = add_command(sub, "reload", run,
                    help="POST /-/reload to Prometheus/Alertmanager after render",
                    description="Ask each server to reload its configuration; exit 1 if any "
                                "refuses (it keeps its old config).")
    p.add_argument("urls", nargs="+", metavar="URL",
                   help="base URL, e.g. http://127.0.0.1:9090 (Prometheus), "
                        "http://127.0.0.1:9093 (Alertmanager)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")


def run(args: argparse.Namespace) -> Exit:
    """Reload every URL; 0 when all took their config, 1 otherwise."""
    failed = 0
    for url in args.urls:
        try:
            reload(url, args.timeout)
        except ReloadFailed as exc:
            print(f"commune-collector reload: {exc}", file=sys.stderr)
            failed += 1
        else:
            print(f"reloaded {url}")
    return Exit.FAILURE if failed else Exit.OK
