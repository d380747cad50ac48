#!/usr/bin/env python3
"""Generate the province inventory (configs/inventory/thanh-hoa.yml) from the communes CSV.

Run once; afterwards the YAML is the source of truth and operators edit it by hand::

    $ scripts/make_inventory.py [configs/inventory/thanh-hoa-communes.csv] [-o FILE]
    wrote configs/inventory/thanh-hoa.yml: 166 communes (19 phường, 147 xã; 77 mountain)

Each commune gets one node ``lan-1`` (role lan-node, mode push: communes sit behind NAT) with
an example LAN address 10.38.N.10, N being the commune's position in the CSV. The same CSV
gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CSV = ROOT / "configs/inventory/thanh-hoa-communes.csv"
DEFAULT_OUT = ROOT / "configs/inventory/thanh-hoa.yml"
COLUMNS = ("code", "name", "type", "former_districts", "terrain")

HEADER = """\
# The province inventory: the communes of Thanh Hóa and the nodes that run commune-agent.
# This file is the source of truth for commune-collector render (Prometheus scrape config,
# file_sd labels, Alertmanager routes) and for commune-diag (where to SSH).
#
# Generated once by scripts/make_inventory.py from thanh-hoa-communes.csv (Công văn
# 1027/CTK-CSCL unit codes, 1 July 2025 boundaries); from now on edit this file by hand.
#
# Per commune: code (official unit code, the `commune` label), name, type (xã | phường),
# terrain (lowland | mountain), group (the former district, the `region` label; for units formed
# from several districts the first is used and the others are noted in a comment), and nodes:
#   name      unique within the commune, e.g. lan-1, vc-1
#   role      lan-node | vc | server
#   mode      scrape (the province scrapes `address`) | push (the agent remote-writes to the
#             collector gateway; for nodes behind NAT)
#   address   the agent's host:port (required for scrape; port defaults to defaults.agent_port)
#   ssh       host:port for commune-diag (default: address host, defaults.ssh_port)
#   ssh_user  (default: defaults.ssh_user)
# The addresses below are EXAMPLES (10.38.N.10): replace them with the real ones.
"""

PROVINCE_TARGETS = """\
# Province-level services, defined once and probed by every commune's agent.
# EXAMPLE hosts: replace with the real database, SIP server and MCU addresses.
province_targets:
  - {name: tthc-portal, kind: http, url: "https://dichvucong.thanhhoa.gov.vn/"}
  - {name: tthc-db, kind: tcp, host: "10.38.0.20", port: 5432}
  - {name: vc-sip, kind: sip, host: "10.38.0.30", port: 5060}
  # The VC MCU: every agent estimates a call's MOS over its path (commune_vc_mos_estimate).
  - {name: vc-mcu, kind: icmp, host: "10.38.0.30", mos: true}
"""


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def read_rows(path: Path) -> list[dict[str, str]]:
    """The CSV rows, NFC-normalised, checked for the expected columns and unique codes."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise SystemExit(f"{path}: expected columns {','.join(COLUMNS)}, "
                             f"got {','.join(reader.fieldnames or ())}")
        rows = [{k: unicodedata.normalize("NFC", (v or "").strip()) for k, v in row.items()}
                for row in reader]
    seen: set[str] = set()
    for i, row in enumerate(rows, start=2):
        if row["code"] in seen:
            raise SystemExit(f"{path}:{i}: duplicate code {row['code']!r}")
        seen.add(row["code"])
    if len(rows) > 254:
        raise SystemExit(f"{path}: {len(rows)} rows; the example addressing 10.38.N.10 holds 254")
    return rows


def render(rows: Sequence[dict[str, str]]) -> str:
    """The inventory YAML text for ``rows``."""
    out = [HEADER, 'province: {code: "38", name: "Thanh Hóa"}\n',
           "defaults: {agent_port: 9810, ssh_port: 22, ssh_user: commune-diag}\n\n",
           PROVINCE_TARGETS, "\ncommunes:\n"]
    for n, row in enumerate(rows, start=1):
        districts = [d.strip() for d in row["former_districts"].split(";") if d.strip()]
        note = f"  # also {'; '.join(districts[1:])}" if len(districts) > 1 else ""
        out.append(
            f"  - code: {q(row['code'])}\n"
            f"    name: {q(row['name'])}\n"
            f"    type: {row['type']}\n"
            f"    terrain: {row['terrain']}\n"
            f"    group: {q(districts[0])}{note}\n"
            f"    nodes:\n"
            f"      - {{name: lan-1, role: lan-node, mode: push, "
            f"address: \"10.38.{n}.10:9810\"}}\n")
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the inventory; print a one-line summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV,
                        help="communes CSV (default: configs/inventory/thanh-hoa-communes.csv "
                             "in this repository, copied from the shared reference data)")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT,
                        help="inventory to write (default: configs/inventory/thanh-hoa.yml)")
    args = parser.parse_args(argv)
    rows = read_rows(args.csv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(rows), encoding="utf-8")
    wards = sum(r["type"] == "phường" for r in rows)
    mountain = sum(r["terrain"] == "mountain" for r in rows)
    print(f"wrote {args.out}: {len(rows)} communes ({wards} phường, {len(rows) - wards} xã; "
          f"{mountain} mountain)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
