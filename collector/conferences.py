"""The schedule of the province's online conferences (``conferences.yml``), for readiness rules.

Example::

    timezone: Asia/Ho_Chi_Minh          # default; or an offset like +07:00
    conferences:
      - name: giao-ban-thang-12         # the label value: a-z, 0-9, '-'
        title: "Giao ban trực tuyến tháng 12 / December briefing"
        start: 2026-12-15T08:00         # local time in `timezone`, or with its own offset
        duration: 2h                    # default 2h
        warn_before: 24h                # default 24h: readiness is judged from start - warn_before
        communes: all                   # or a list of commune codes and regions
        mos_threshold: 3.6              # default: below it a commune's link is not ready

Every conference is validated, past ones too; :meth:`Schedule.upcoming` leaves out those that
have ended. Commune codes and regions are checked against the inventory; every error names
the file, line, column and key, all at once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from collector.inventory import Inventory
from common.schema import MISSING, ConfigError, ConfigIssue, Invalid, Loader, describe, load_file
from common.shipped import etc_root
from common.units import Duration

__all__ = ["DEFAULT_TIMEZONE", "Conference", "Conferences", "Schedule", "default_schedule_path",
           "load_conferences", "local_text", "scope_codes"]

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
DEFAULT_MOS_THRESHOLD = 3.6
DEFAULT_DURATION = Duration(2 * 3600)
DEFAULT_WARN_BEFORE = Duration(24 * 3600)
#: The largest schedule read: a year of weekly conferences is a few KiB.
SCHEDULE_MAX_BYTES = 256 << 10
#: Where the collector's install puts the schedule (render reads it when --conferences is not
#: given); under ``$COMMUNE_MONITOR_ETC`` instead of /etc when that is set.
ETC_NAME = Path("commune-collector") / "conferences.yml"
TITLE_MAX_CHARS = 200

_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_OFFSET = re.compile(r"([+-])(\d\d):?(\d\d)|Z|UTC")


class LocalTime(str):
    """``2026-12-15T08:00`` (in the file's ``timezone``) or with an offset, ``...08:00+07:00``."""

    @classmethod
    def parse(cls, text: str) -> LocalTime:
        """Check ``text`` is an ISO date and time (minutes at least)."""
        try:
            datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"expected a date and time like '2026-12-15T08:00', got "
                             f"{text!r}") from None
        if "T" not in text and " " not in text.strip():
            raise ValueError(f"expected a date and a time like '2026-12-15T08:00', got {text!r}")
        return cls(text.strip())

    def at(self, zone: tzinfo) -> datetime:
        """This time, in ``zone`` unless it names its own offset."""
        moment = datetime.fromisoformat(self)
        return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


class Communes(tuple[str, ...]):
    """``all``, or a list of commune codes and regions; keeps each entry's line and column."""

    places: tuple[tuple[int, int], ...] = ()

    @property
    def everyone(self) -> bool:
        """Whether the conference is for every commune of the inventory."""
        return not self

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        if isinstance(node, yaml.ScalarNode) and node.value == "all":
            return cls()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            loader.error(node, key, "expected 'all' or a list of commune codes and regions, "
                         f"like ['14797', 'Huyện Mường Lát'], got {describe(node)}")
            return MISSING
        values, places, ok = [], [], True
        for i, item in enumerate(node.value):
            value = loader.scalar(item) if isinstance(item, yaml.ScalarNode) else None
            if isinstance(value, bool) or value is None or not str(value).strip():
                loader.error(item, f"{key}[{i}]", "expected a commune code or a region, got "
                             f"{describe(item)}")
                ok = False
                continue
            values.append(unicodedata.normalize("NFC", str(item.value).strip()))
            places.append((item.start_mark.line + 1, item.start_mark.column + 1))
        if not ok:
            return MISSING
        scope = cls(values)
        scope.places = tuple(places)
        return scope


@dataclass(frozen=True)
class Conference:
    """One scheduled conference: when, for whom, and the MOS a commune's link must reach."""

    name: str
    title: str
    start: LocalTime
    duration: Duration = DEFAULT_DURATION
    warn_before: Duration = DEFAULT_WARN_BEFORE
    communes: Communes = dataclasses.field(default_factory=Communes)
    mos_threshold: float = DEFAULT_MOS_THRESHOLD

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise Invalid(f"expected a name like 'giao-ban-thang-12' (a-z, 0-9, '-'), got "
                          f"{self.name!r}", key="name")
        if not self.title.strip():
            raise Invalid("expected the title shown in alerts, got ''", key="title")
        if len(self.title) > TITLE_MAX_CHARS:
            raise Invalid(f"expected a title of at most {TITLE_MAX_CHARS} characters, got "
                          f"{len(self.title)}", key="title")
        object.__setattr__(self, "title", unicodedata.normalize("NFC", self.title.strip()))
        if self.duration <= 0:
            raise Invalid(f"expected a duration longer than 0s, got {self.duration}",
                          key="duration")
        if self.warn_before < 0:
            raise Invalid("expected a duration like '24h'", key="warn_before")
        if not 1.0 <= self.mos_threshold <= 4.5:
            raise Invalid(f"expected a MOS between 1.0 and 4.5 (the E-model's range), got "
                          f"{self.mos_threshold}", key="mos_threshold")


class TimeZoneName(str):
    """A zone name like ``Asia/Ho_Chi_Minh`` or an offset like ``+07:00``."""

    @classmethod
    def parse(cls, text: str) -> TimeZoneName:
        """Check ``text`` names a known zone or an offset."""
        zone_of(text)
        return cls(text.strip())


class Conferences(tuple[Conference, ...]):
    """The conferences of a schedule; names are unique."""

    @classmethod
    def __config_load__(cls, loader: Loader, node: yaml.Node, key: str) -> Any:
        if isinstance(node, yaml.ScalarNode) and loader.scalar(node) is None:
            return cls()
        if not isinstance(node, yaml.SequenceNode):
            loader.error(node, key, f"expected a list of conferences, got {describe(node)}")
            return MISSING
        values: list[Any] = []
        first_line: dict[str, int] = {}
        ok = True
        for i, item in enumerate(node.value):
            value = loader.load(Conference, item, f"{key}[{i}]")
            ok = ok and value is not MISSING
            values.append(value)
            name_node = next((v for k, v in getattr(item, "value", ())
                              if isinstance(item, yaml.MappingNode)
                              and getattr(k, "value", None) == "name"), None)
            if not isinstance(name_node, yaml.ScalarNode):
                continue
            if name_node.value in first_line:
                loader.error(name_node, f"{key}[{i}].name",
                             f"duplicate conference {name_node.value!r} (first at line "
                             f"{first_line[name_node.value]}); each name must be unique")
                ok = False
            else:
                first_line[name_node.value] = name_node.start_mark.line + 1
        return cls(values) if ok else MISSING


@dataclass(frozen=True)
class Schedule:
    """The conferences of one schedule file, their times resolved in its ``timezone``."""

    conferences: Conferences = dataclasses.field(default_factory=Conferences)
    timezone: TimeZoneName = dataclasses.field(
        default_factory=lambda: TimeZoneName(DEFAULT_TIMEZONE))
    # The file it was loaded from (set by load_conferences; not a YAML key).
    file: str = dataclasses.field(default="", init=False, compare=False)

    @property
    def zone(self) -> tzinfo:
        """The zone of start times written without an offset."""
        return zone_of(self.timezone)

    def start(self, conference: Conference) -> datetime:
        """When ``conference`` starts (aware)."""
        return conference.start.at(self.zone)

    def end(self, conference: Conference) -> datetime:
        """When ``conference`` ends (aware)."""
        return self.start(conference) + timedelta(seconds=conference.duration)

    def upcoming(self, now: datetime) -> list[Conference]:
        """The conferences not yet ended at ``now``, soonest first."""
        left = [c for c in self.conferences if self.end(c) > now]
        return sorted(left, key=lambda c: (self.start(c), c.name))


def zone_of(name: str) -> tzinfo:
    """The zone ``Asia/Ho_Chi_Minh`` or the offset ``+07:00``; ValueError if neither."""
    match = _OFFSET.fullmatch(name.strip())
    if match:
        if match.group(1) is None:
            return timezone.utc
        sign = -1 if match.group(1) == "-" else 1
        hours, minutes = int(match.group(2)), int(match.group(3))
        if hours > 14 or minutes > 59:
            raise ValueError(f"expected an offset between -14:00 and +14:00, got {name!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; give one like 'Asia/Ho_Chi_Minh' or "
                         "an offset like '+07:00'") from None


def local_text(moment: datetime) -> str:
    """``2026-12-15 08:00 +07:00``: how alerts and the board show a start time."""
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def default_schedule_path() -> Path:
    """The installed schedule, ``/etc/commune-collector/conferences.yml``."""
    return etc_root() / ETC_NAME


def _scope_issues(schedule: Schedule, inventory: Inventory, file: str) -> list[ConfigIssue]:
    codes = {c.code for c in inventory.communes}
    regions = {c.group for c in inventory.communes}
    where = f" {inventory.file}" if inventory.file else ""
    issues = []
    for i, conference in enumerate(schedule.conferences):
        for j, (entry, (line, column)) in enumerate(zip(conference.communes,
                                                        conference.communes.places, strict=True)):
            if entry not in codes and entry not in regions:
                issues.append(ConfigIssue(
                    file, line, column, f"conferences[{i}].communes[{j}]",
                    f"{entry!r} is neither a commune code nor a region of the inventory"
                    f"{where}; check the spelling"))
    return issues


def scope_codes(conference: Conference, inventory: Inventory) -> list[str]:
    """The codes of the communes ``conference`` is for, in inventory order."""
    wanted = set(conference.communes)
    return [c.code for c in inventory.communes
            if conference.communes.everyone or c.code in wanted or c.group in wanted]


def load_conferences(path: str | os.PathLike[str],
                     inventory: Inventory | None = None) -> Schedule:
    """Load and validate a schedule (against ``inventory`` if given); ConfigError listing every
    problem."""
    file = str(path)
    schedule = load_file(Schedule, path, SCHEDULE_MAX_BYTES, "a conference schedule")
    if inventory is not None:
        issues = _scope_issues(schedule, inventory, file)
        if issues:
            raise ConfigError(file, issues)
    object.__setattr__(schedule, "file", file)
    return schedule

