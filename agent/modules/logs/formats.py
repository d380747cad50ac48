"""Access-log line formats: Apache/nginx ``common`` and ``combined``, or a configured regex.

Each format is one compiled regex with named groups (see ``config.KNOWN_GROUPS``); groups a
format lacks are appended as empty optional groups, so a match always answers every field with
one ``Match.group(*FIELDS)`` call and the hot loop needs no per-format branches.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime

from agent.modules.logs.config import DURATION_GROUPS, LogFile

# %h %l %u %t "%r" %>s %b -- the request is split into method and path; a request that is not
# "METHOD TARGET[ PROTOCOL]" (TLS bytes sent to the HTTP port, "-") still parses, without them.
# A quoted field: Apache escapes '"' as '\"' (the "unrolled loop" keeps the common case fast).
_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
_REQUEST = rf'"(?:(?P<method>[A-Z]+) (?P<path>[^ "\\]*)(?: {_QUOTED})?"|{_QUOTED}")'
COMMON = (r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] ' + _REQUEST
          + r' (?P<status>\d{3}) (?P<bytes>\d+|-)')
# ... "%{Referer}i" "%{User-Agent}i" (optional: a common line in the same file still parses);
# trailing fields (nginx's $request_time...) are ignored.
COMBINED = COMMON + rf'(?: "{_QUOTED}" "(?P<user_agent>{_QUOTED})")?'

# The fields the hot loop reads, in this order; the duration group is the format's own.
FIELDS = ("client", "time", "method", "path", "status", "bytes", "user_agent")
# Multiplier from each duration group's unit to seconds.
DURATION_SCALE = {"request_time": 1.0, "duration_ms": 1e-3, "duration_us": 1e-6}


@dataclass(frozen=True)
class LineFormat:
    """A compiled line format: ``regex.match(line).group(*fields)`` gives every field."""

    regex: re.Pattern[str]
    fields: tuple[str, ...]
    has_duration: bool
    duration_scale: float


def line_format(file: LogFile) -> LineFormat:
    """The compiled format of a configured log file."""
    source = {"common": COMMON, "combined": COMBINED}.get(file.format) or file.regex or ""
    present = set(re.compile(source).groupindex)
    duration = next((g for g in DURATION_GROUPS if g in present), None)
    wanted = (*FIELDS, duration or "request_time")
    # A group that cannot match: its value is always None.
    padding = "".join(f"(?:(?P<{name}>(?!)))?" for name in wanted if name not in present)
    regex = re.compile(f"(?:{source}){padding}" if padding else source)
    return LineFormat(regex, wanted, duration is not None,
                      DURATION_SCALE[duration] if duration else 1.0)


_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_CLF_TIME = re.compile(r"(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")


def parse_time(text: str) -> float | None:
    """Unix time of a log timestamp: ``10/Oct/2000:13:55:36 -0700`` or ISO 8601; None if neither."""
    m = _CLF_TIME.match(text)
    if m is not None:
        day, mon, year, hh, mm, ss, sign, oh, om = m.groups()
        month = _MONTHS.get(mon)
        if month is None:
            return None
        try:
            utc = calendar.timegm((int(year), month, int(day), int(hh), int(mm), int(ss)))
        except ValueError:
            return None
        offset = (int(oh) * 3600 + int(om) * 60) * (1 if sign == "+" else -1)
        return float(utc - offset)
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo is not None else None
