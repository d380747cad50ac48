"""``commune-collector render``: inventory -> the config of Prometheus, Alertmanager, Grafana.

    $ commune-collector render --inventory configs/inventory/thanh-hoa.yml --out build/prom
    rendered 166 communes (0 scrape, 166 push nodes) into /home/me/build/prom:
      prometheus.yml, alertmanager.yml, agent-probe-targets.yml, README, file_sd/ (3 roles),
      rules/ (9 copied from /home/me/commune-monitor/configs/prometheus/rules + ...), ...
    start Prometheus with:
      prometheus --config.file=build/prom/prometheus.yml \\
            --web.enable-remote-write-receiver --web.enable-lifecycle \\
            --storage.tsdb.path=/var/lib/prometheus/metrics2
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from collector.conferences import default_schedule_path, load_conferences
from collector.inventory import load_inventory
from collector.province_files import require_inventory
from collector.render.conference_rules import CONFERENCE_RULES
from collector.render.grafana import DASHBOARDS
from collector.render.output import (
    INVENTORY_RULES,
    RenderOptions,
    ShippedData,
    prometheus_command,
    render,
    write_files,
)
from collector.render.rules import rules_for_render
from common.cli import Exit, Failure, UsageError, add_command, flag_type
from common.schema import HostPort
from common.shipped import shipped_dirs
from common.units import Duration


def add_parser(sub: Any) -> None:
    """Add the ``render`` subcommand to the ``commune-collector`` subparsers."""
    defaults = RenderOptions()
    p = add_command(sub, "render", run,
                    help="render Prometheus/Alertmanager config from the inventory",
                    description="Render prometheus.yml, file_sd/, rules/, alertmanager.yml, "
                                "templates/ and grafana/ from the province inventory.")
    p.add_argument("--inventory", required=True, metavar="FILE", type=Path,
                   help="the inventory, e.g. configs/inventory/thanh-hoa.yml")
    p.add_argument("--out", required=True, metavar="DIR", type=Path,
                   help="output folder (created; its rules/ and file_sd/ are owned by render)")
    p.add_argument("--conferences", metavar="FILE", type=Path,
                   help="the conference schedule (default: /etc/commune-collector/"
                        "conferences.yml when it exists): readiness rules for each conference "
                        "not yet ended")
    p.add_argument("--rules", metavar="DIR", type=Path,
                   help="Prometheus rule files to copy (default: the shipped rules, with "
                        "/etc/commune-collector/rules overriding them by file name)")
    p.add_argument("--alertmanager", metavar="HOST:PORT", type=flag_type(HostPort.parse),
                   default=defaults.alertmanager,
                   help=f"where Prometheus sends alerts (default {defaults.alertmanager})")
    p.add_argument("--out-of-order-window", metavar="DURATION", type=flag_type(Duration.parse),
                   default=defaults.out_of_order_window,
                   help="how old a pushed sample may be and still be stored; at least as long as "
                        f"the agents' spool can hold (default {defaults.out_of_order_window})")
    p.add_argument("--scrape-interval", metavar="DURATION", type=flag_type(Duration.parse),
                   default=defaults.scrape_interval)
    p.add_argument("--scrape-timeout", metavar="DURATION", type=flag_type(Duration.parse),
                   help="default: 10s, or the scrape interval if shorter")
    p.add_argument("--evaluation-interval", metavar="DURATION", type=flag_type(Duration.parse),
                   default=defaults.evaluation_interval)
    p.add_argument("--gateway", metavar="HOST:PORT", action="append", default=[],
                   type=flag_type(HostPort.parse),
                   help="a commune-collector serve to scrape for its own metrics (repeatable)")
    p.add_argument("--webhook-url", metavar="URL",
                   help="send every Alertmanager receiver's alerts to this webhook")
    p.add_argument("--prometheus-url", metavar="URL", default=defaults.prometheus_url,
                   help="where Grafana's datasource reaches Prometheus "
                        f"(default {defaults.prometheus_url})")
    p.add_argument("--max-for", metavar="DURATION", type=flag_type(Duration.parse),
                   help="cap every rule's for: and keep_firing_for: at DURATION in the rendered "
                        "rules (rehearsals, tests); the shipped files are not edited")
    p.add_argument("--max-group-wait", metavar="DURATION", type=flag_type(Duration.parse),
                   help="cap Alertmanager's group_wait and group_interval at DURATION "
                        "(rehearsals, tests)")


def run(args: argparse.Namespace) -> Exit:
    """Render; 0 on success, 2 on a bad inventory, option or missing rules, 1 when files cannot
    be written."""
    try:
        options = RenderOptions(
            alertmanager=args.alertmanager, out_of_order_window=args.out_of_order_window,
            scrape_interval=args.scrape_interval, scrape_timeout=args.scrape_timeout,
            evaluation_interval=args.evaluation_interval, gateways=tuple(args.gateway),
            webhook_url=args.webhook_url, prometheus_url=args.prometheus_url,
            max_for=args.max_for, max_group_wait=args.max_group_wait)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    require_inventory(args.inventory)
    inventory = load_inventory(args.inventory)
    schedule_path = args.conferences
    if schedule_path is None and default_schedule_path().is_file():
        schedule_path = default_schedule_path()
    schedule = None if schedule_path is None else load_conferences(schedule_path, inventory)
    data = ShippedData.load(rules_for_render(args.rules))
    out = args.out.resolve()
    now = datetime.now(timezone.utc)
    try:
        files = render(inventory, options, out, data, schedule, now)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        write_files(files, out)
    except OSError as exc:
        raise Failure(f"cannot write into {out}: {exc}") from None
    nodes = [node for _, node in inventory.nodes()]
    scraped = sum(node.mode == "scrape" for node in nodes)
    source = args.rules or " and ".join(str(d) for d in shipped_dirs("rules"))
    dashboards = sum(name.startswith(f"{DASHBOARDS}/") for name in files)
    upcoming = ("" if schedule is None else f" + {CONFERENCE_RULES} ("
                f"{len(schedule.upcoming(now))} upcoming conferences of {schedule_path})")
    capped = f", waits capped at {options.max_for}" if options.max_for is not None else ""
    print(f"rendered {len(inventory.communes)} communes ({scraped} scrape, "
          f"{len(nodes) - scraped} push nodes) into {out}:\n"
          f"  prometheus.yml, alertmanager.yml, templates/ ({len(data.templates)}), "
          f"agent-probe-targets.yml, README, file_sd/ (3 roles),\n"
          f"  rules/ ({len(data.rules)} copied from {source}{capped} + {INVENTORY_RULES}"
          f"{upcoming}),\n"
          f"  grafana/ ({dashboards} dashboards, provisioning of the dashboards and the "
          f"datasource {options.prometheus_url})\n"
          f"start Prometheus with:\n  {prometheus_command(out)}")
    return Exit.OK
