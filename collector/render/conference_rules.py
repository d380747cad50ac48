"""``rules/commune-conferences.yml``: the schedule's recording rules, rendered for Prometheus.

For each conference not ended at render time, one group ``conference-NAME`` of:

- ``conference:window:bool{conference, title, starts, mos_threshold}``: 1 from
  ``start - warn_before`` to the end, 0 before (``starts`` is the local start, as alerts show it);
- ``conference:start_timestamp_seconds:value{...}``: the start (Unix time) until the end;
- ``commune_conference_reason:vc_not_ready:bool{conference, reason, commune, ...}``: 1 while the
  window is open, for each commune of the conference and each reason it is not ready:
  ``unreachable``, ``unregistered``, ``no_data`` (vc.yml's ``commune_reason:vc_not_ready:bool``)
  and ``mos_low`` (the commune's lowest ``commune_vc_mos_estimate`` below the conference's
  ``mos_threshold``; no MOS series, no ``mos_low``);
- ``commune_conference:vc_ready:bool{conference, commune, ...}``: 1 ready, 0 not, for each
  commune of the conference while the window is open.

vc.yml's ``ConferenceReadinessAtRisk`` alerts on the reasons. The rules compare ``time()`` with
the times written here, so they follow the clock without a new render; a render drops the
conferences that have ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collector.conferences import Conference, Schedule, local_text, scope_codes
from collector.inventory import Inventory

CONFERENCE_RULES = "commune-conferences.yml"
WINDOW = "conference:window:bool"
START = "conference:start_timestamp_seconds:value"
REASON = "commune_conference_reason:vc_not_ready:bool"
READY = "commune_conference:vc_ready:bool"
STATIC_REASON = "commune_reason:vc_not_ready:bool"
MOS = "commune_vc_mos_estimate"
INVENTORY_BY_COMMUNE = "max by (commune, commune_name, region, terrain) ({selector})"


def _selector(metric: str, codes: list[str] | None) -> str:
    if codes is None:
        return metric
    alternatives = "|".join(code.replace(".", "\\\\.") for code in codes)
    return f'{metric}{{commune=~"{alternatives}"}}'


def _threshold(value: float) -> str:
    return f"{value:g}"


def conference_group(schedule: Schedule, conference: Conference,
                     inventory: Inventory) -> dict[str, Any]:
    """The rule group of one conference."""
    start = schedule.start(conference)
    begin = int(start.timestamp() - conference.warn_before)
    end = int(schedule.end(conference).timestamp())
    codes = None if conference.communes.everyone else scope_codes(conference, inventory)
    labels = {"conference": conference.name, "title": conference.title,
              "starts": local_text(start), "mos_threshold": _threshold(conference.mos_threshold)}
    is_open = f'{WINDOW}{{conference="{conference.name}"}} == 1'
    communes = INVENTORY_BY_COMMUNE.format(
        selector=_selector("commune_inventory_node_info", codes))
    mos_low = (f"min by (commune) ({MOS}) < {_threshold(conference.mos_threshold)}")
    reasons = (f"(\n    {_selector(STATIC_REASON, codes)}\n  or\n"
               f"    label_replace(\n      {communes}\n        and on (commune) ({mos_low}),\n"
               f'      "reason", "mos_low", "", "")\n)\nand on () ({is_open})\n')
    ready = (f"(\n    ({communes}\n      unless on (commune) "
             f'{REASON}{{conference="{conference.name}"}})\n  or\n    {communes} * 0\n)\n'
             f"and on () ({is_open})\n")
    return {"name": f"conference-{conference.name}", "rules": [
        {"record": WINDOW,
         "expr": f"(vector(time()) >= bool {begin}) * (vector(time()) < bool {end})",
         "labels": dict(labels)},
        {"record": START, "expr": f"vector({int(start.timestamp())}) and on () "
                                  f"(vector(time()) < {end})",
         "labels": dict(labels)},
        {"record": REASON, "expr": reasons, "labels": {"conference": conference.name}},
        {"record": READY, "expr": ready, "labels": {"conference": conference.name}},
    ]}


def conference_rules(schedule: Schedule, inventory: Inventory, now: datetime) -> dict[str, Any]:
    """The rule file of the conferences of ``schedule`` not ended at ``now`` (no groups when
    none is upcoming)."""
    return {"groups": [conference_group(schedule, c, inventory)
                       for c in schedule.upcoming(now)]}
