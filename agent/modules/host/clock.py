"""The clock: sections ``time`` (wall clock, zone, clocksources) and ``timex`` (adjtimex(2))."""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_value

TIME = MetricSpec("node_time_seconds", "gauge", "System time in seconds since epoch (1970).")
TIME_ZONE_OFFSET = MetricSpec("node_time_zone_offset_seconds", "gauge",
                              "System time zone offset in seconds.", ("time_zone",))
CLOCKSOURCE_AVAILABLE = MetricSpec("node_time_clocksource_available_info", "gauge",
                                   "Available clocksources read from "
                                   "'/sys/devices/system/clocksource'.", ("clocksource", "device"))
CLOCKSOURCE_CURRENT = MetricSpec("node_time_clocksource_current_info", "gauge",
                                 "Current clocksource read from '/sys/devices/system/clocksource'.",
                                 ("clocksource", "device"))

TIMEX = {
    "offset": MetricSpec("node_timex_offset_seconds", "gauge",
                         "Time offset in between local system and reference clock."),
    "freq": MetricSpec("node_timex_frequency_adjustment_ratio", "gauge",
                       "Local clock frequency adjustment."),
    "maxerror": MetricSpec("node_timex_maxerror_seconds", "gauge", "Maximum error in seconds."),
    "esterror": MetricSpec("node_timex_estimated_error_seconds", "gauge",
                           "Estimated error in seconds."),
    "status": MetricSpec("node_timex_status", "gauge", "Value of the status array bits."),
    "constant": MetricSpec("node_timex_loop_time_constant", "gauge",
                           "Phase-locked loop time constant."),
    "tick": MetricSpec("node_timex_tick_seconds", "gauge", "Seconds between clock ticks."),
    "ppsfreq": MetricSpec("node_timex_pps_frequency_hertz", "gauge",
                          "Pulse per second frequency."),
    "jitter": MetricSpec("node_timex_pps_jitter_seconds", "gauge", "Pulse per second jitter."),
    "shift": MetricSpec("node_timex_pps_shift_seconds", "gauge",
                        "Pulse per second interval duration."),
    "stabil": MetricSpec("node_timex_pps_stability_hertz", "gauge",
                         "Pulse per second stability, average of recent frequency changes."),
    "jitcnt": MetricSpec("node_timex_pps_jitter_total", "counter",
                         "Pulse per second count of jitter limit exceeded events."),
    "calcnt": MetricSpec("node_timex_pps_calibration_total", "counter",
                         "Pulse per second count of calibration intervals."),
    "errcnt": MetricSpec("node_timex_pps_error_total", "counter",
                         "Pulse per second count of calibration errors."),
    "stbcnt": MetricSpec("node_timex_pps_stability_exceeded_total", "counter",
                         "Pulse per second count of stability limit exceeded events."),
    "tai": MetricSpec("node_timex_tai_offset_seconds", "gauge",
                      "International Atomic Time (TAI) offset."),
    "sync": MetricSpec("node_timex_sync_status", "gauge",
                       "Is clock synchronized to a reliable server (1 = yes, 0 = no)."),
}
_TIME_ERROR = 5  # adjtimex(2) clock state: not synchronised
_STA_NANO = 0x2000  # offset and jitter are in nanoseconds, not microseconds
_PPM16 = 1_000_000.0 * 65536.0  # freq, ppsfreq, stabil: ppm with a 16-bit fraction


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (Linux), up to ``tai`` and its padding."""

    _fields_ = [
        ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
        ("constant", ctypes.c_long), ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long), ("time", _Timeval), ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long), ("jitter", ctypes.c_long), ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long), ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long), ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int),
        ("_padding", ctypes.c_int * 11),
    ]


@functools.cache
def _libc() -> ctypes.CDLL:
    # The symbols the process already has (libc's among them): no find_library(), which runs
    # ldconfig in a subprocess.
    return ctypes.CDLL(None, use_errno=True)


def read_timex() -> tuple[int, Timex]:
    """The clock state and ``struct timex`` from adjtimex(2) in read-only mode (modes 0)."""
    timex = Timex()
    state = _libc().adjtimex(ctypes.byref(timex))
    if state < 0:
        raise OSError(ctypes.get_errno(), "adjtimex failed")
    return state, timex


def timex_values(state: int, tx: Timex) -> dict[str, float]:
    """node_exporter's timex values, converted to base units as its timex collector does."""
    divisor = 1e9 if tx.status & _STA_NANO else 1e6
    return {
        "offset": tx.offset / divisor, "freq": 1 + tx.freq / _PPM16,
        "maxerror": tx.maxerror / 1e6, "esterror": tx.esterror / 1e6,
        "status": float(tx.status), "constant": float(tx.constant), "tick": tx.tick / 1e6,
        "ppsfreq": tx.ppsfreq / _PPM16, "jitter": tx.jitter / divisor,
        "shift": float(2 ** tx.shift), "stabil": tx.stabil / _PPM16,
        "jitcnt": float(tx.jitcnt), "calcnt": float(tx.calcnt), "errcnt": float(tx.errcnt),
        "stbcnt": float(tx.stbcnt), "tai": float(tx.tai),
        "sync": 0.0 if state == _TIME_ERROR else 1.0,
    }


def collect_timex(read: Callable[[], tuple[int, Timex]] = read_timex) -> Iterable[Metric]:
    """The kernel clock's discipline (NTP) state: a syscall, so not under procfs."""
    families: list[Metric] = []
    for key, value in timex_values(*read()).items():
        family = TIMEX[key].family()
        family.add_metric([], value)
        families.append(family)
    return families


def collect_time(roots: Roots, clock: Callable[[], float]) -> Iterable[Metric]:
    """Wall clock, time zone offset, and the clocksources of ``<sysfs>/devices/system``."""
    now = clock()
    wall = TIME.family()
    wall.add_metric([], now)
    local = time.localtime(now)
    zone = TIME_ZONE_OFFSET.family()
    zone.add_metric([local.tm_zone or ""], float(local.tm_gmtoff or 0))
    available, current = CLOCKSOURCE_AVAILABLE.family(), CLOCKSOURCE_CURRENT.family()
    base = roots.sys("devices/system/clocksource")
    if base.is_dir():
        for entry in sorted(base.glob("clocksource[0-9]*")):
            device = entry.name.removeprefix("clocksource")
            for source in (read_value(entry / "available_clocksource") or "").split():
                available.add_metric([source, device], 1)
            now_source = read_value(entry / "current_clocksource")
            if now_source:
                current.add_metric([now_source, device], 1)
    return (wall, zone, available, current)
