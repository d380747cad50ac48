"""Datagrams the kernel dropped for a UDP socket whose queue was full (Linux: /proc/net/udp).

Both UDP listeners of the agent, the SNMP trap listener and the flows collector, count these as
their ``overflow`` drops.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_PROC_UDP = (Path("/proc/net/udp"), Path("/proc/net/udp6"))


def socket_drops(inode: int, tables: Sequence[Path] = _PROC_UDP) -> int | None:
    """The ``drops`` column of the UDP socket with this inode in /proc/net/udp{,6}."""
    wanted = str(inode)
    for table in tables:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if len(fields) >= 13 and fields[9] == wanted and fields[12].isdigit():
                return int(fields[12])
    return None
