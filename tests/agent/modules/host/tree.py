"""A fake host for the host module's tests: procfs, sysfs and rootfs trees built in tmp.

``HostTree(tmp_path)`` writes a small, consistent machine (two CPUs of three online, two
disks, loopback, an Ethernet link that is down and an interface with an odd name); a test
changes or removes one file and checks what the module makes of it. ``config()`` points a
HostConfig at the tree.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from agent.modules.host_config import HostConfig

# cpu2 is offline: /proc/stat has no cpu1 line, cpu0 and cpu2 keep their numbers.
STAT = """\
cpu  3000 40 1000 50000 200 10 20 5 60 7 0
cpu0 1000 20 500 25000 100 5 10 2 30 3 0
cpu2 2000 20 500 25000 100 5 10 3 30 4 0
intr 123456 10 20 30
ctxt 987654
btime 1700000000
processes 4321
procs_running 3
procs_blocked 1
softirq 555 1 2 3
"""
MEMINFO = """\
MemTotal:        8048576 kB
MemFree:         1234567 kB
MemAvailable:    4567890 kB
Buffers:          102400 kB
Cached:          2048000 kB
SwapTotal:       2097148 kB
SwapFree:        2097000 kB
Active(anon):     512000 kB
Inactive(file):   256000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""
VMSTAT = "nr_free_pages 1000\npgpgin 11\npgpgout 22\npswpin 3\npswpout 4\npgfault 5555\n" \
         "pgmajfault 66\noom_kill 2\nnr_dirty 9\n"
DISKSTATS = (
    "   7       0 loop0 10 0 20 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
    " 254       0 vda 198774 30372 6934418 3722113 122213 183001 10114952 193484 2 243024"
    " 4022301 82048 72 3610256 102371 26800 4331\n"
    " 254       1 vda1 100 0 200 10 0 0 0 0 0 5 5 0 0 0 0 0 0\n"
    " 253       0 zram0 5 0 40 0 7 0 56 1 0 2 1\n"  # an old kernel: no discard, no flush
)
NETDEV = (
    "Inter-|   Receive                            |  Transmit\n"
    " face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo"
    " colls carrier compressed\n"
    "    lo:  5000 50 0 0 0 0 0 0  5000 50 0 0 0 0 0 0\n"
    "  eth0: 123456 789 1 2 3 4 5 6 654321 987 7 8 9 10 11 12\n"
    "br-lan.100@x:10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0\n"  # a long name touches the colon
)
NETSTAT = """\
TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPTimeouts PruneCalled
TcpExt: 11 7 3 4 5 99
IpExt: InOctets OutOctets InMcastPkts
IpExt: 1000 2000 3
"""
SNMP = """\
Ip: Forwarding DefaultTTL InReceives
Ip: 1 64 500
Tcp: RtoAlgorithm ActiveOpens PassiveOpens InSegs OutSegs RetransSegs InErrs OutRsts MaxConn
Tcp: 1 10 20 300 400 5 6 7 -1
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
Udp: 100 2 3 90 4 5
"""
SNMP6 = "Ip6InReceives                   \t245\nIp6InOctets 9000\nUdp6InDatagrams 12\n" \
        "Icmp6InMsgs 3\n"
SOCKSTAT = ("sockets: used 56\nTCP: inuse 33 orphan 2 tw 339 alloc 34 mem 69\n"
            "UDP: inuse 1 mem 78\nFRAG: inuse 0 memory 0\n")
SOCKSTAT6 = "TCP6: inuse 4\nUDP6: inuse 2\n"
SOFTNET = "0008fde5 00000000 00000001 00000000\n0009114d 00000003 00000002 00000000\n"
ARP = """\
IP address       HW type     Flags       HW address            Mask     Device
192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0
192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth0
198.51.100.1     0x1         0x2         02:fc:00:00:00:09     *        br-lan.100@x
"""
CONNTRACK_STAT = (
    "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop"
    " early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
    "00000010  0 00000002 0 00000001 00000003 0 0 00000004 0 00000005 0 0  0 0 0 00000001\n"
    "00000010  0 00000008 0 00000001 00000003 0 0 00000004 0 00000005 0 0  0 0 0 00000002\n"
)
UDP = (
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
    "  timeout inode ref pointer drops\n"
    "  0: 00000000:0044 00000000:0000 07 00000010:00000200 00:00000000 00000000 0 0 1 2 0 0\n"
    "  1: 00000000:0045 00000000:0000 07 00000001:00000000 00:00000000 00000000 0 0 1 2 0 0\n"
)
# Interfaces: attribute -> value; a missing attribute cannot be read (speed of a down link).
INTERFACES: dict[str, dict[str, str]] = {
    "lo": {"operstate": "unknown", "carrier": "1", "mtu": "65536",
           "address": "00:00:00:00:00:00", "broadcast": "00:00:00:00:00:00", "flags": "0x9",
           "ifindex": "1", "iflink": "1", "type": "772", "tx_queue_len": "1000",
           "carrier_changes": "0"},
    "eth0": {"operstate": "down", "carrier": "0", "mtu": "1500", "speed": "1000",
             "duplex": "full", "address": "02:fc:00:00:00:01", "broadcast": "ff:ff:ff:ff:ff:ff",
             "ifalias": "uplink", "flags": "0x1003", "ifindex": "2", "iflink": "2", "type": "1",
             "dev_id": "0x0", "tx_queue_len": "1000", "carrier_changes": "3",
             "carrier_up_count": "1", "carrier_down_count": "2"},
    "br-lan.100@x": {"operstate": "up", "carrier": "1", "mtu": "9000", "speed": "10000",
                     "address": "02:fc:00:00:00:02", "flags": "0x1003", "ifindex": "3"},
}


class HostTree:
    """procfs, sysfs and rootfs of a fake host under ``base``."""

    def __init__(self, base: Path) -> None:
        self.procfs, self.sysfs, self.rootfs = base / "proc", base / "sys", base / "root"
        self.textfiles = base / "textfile"
        self.textfiles.mkdir(parents=True)
        proc = {
            "stat": STAT, "meminfo": MEMINFO, "vmstat": VMSTAT,
            "loadavg": "0.50 1.25 2.75 2/345 6789\n",
            "diskstats": DISKSTATS, "net/dev": NETDEV, "net/netstat": NETSTAT, "net/snmp": SNMP,
            "net/snmp6": SNMP6, "net/sockstat": SOCKSTAT, "net/sockstat6": SOCKSTAT6,
            "net/softnet_stat": SOFTNET, "net/arp": ARP, "net/udp": UDP,
            "net/stat/nf_conntrack": CONNTRACK_STAT,
            "pressure/cpu": "some avg10=0.00 avg60=0.00 avg300=0.00 total=5000000\n",
            "pressure/io": "some avg10=0 avg60=0 avg300=0 total=2500000\n"
                           "full avg10=0 avg60=0 avg300=0 total=1000000\n",
            "pressure/memory": "some avg10=0 avg60=0 avg300=0 total=300\n"
                               "full avg10=0 avg60=0 avg300=0 total=100\n",
            "sys/kernel/random/entropy_avail": "256\n", "sys/kernel/random/poolsize": "4096\n",
            "sys/fs/file-nr": "1412\t0\t2466170\n", "sys/kernel/domainname": "example.lan\n",
            "sys/net/netfilter/nf_conntrack_count": "42\n",
            "sys/net/netfilter/nf_conntrack_max": "262144\n",
        }
        for relative, text in proc.items():
            self.write(self.procfs / relative, text)
        self.write_mounts([
            ("/dev/vda", "/", "ext4", "rw,relatime"),
            ("/dev/vdb", "/srv/data\\040store", "xfs", "ro,relatime"),
            ("proc", "/proc", "proc", "rw"),
            ("tmpfs", "/gone", "tmpfs", "rw"),
        ])
        for name, attributes in INTERFACES.items():
            for attribute, value in attributes.items():
                self.write(self.sysfs / "class/net" / name / attribute, value + "\n")
            self.write(self.sysfs / "class/net" / name / "statistics/rx_nohandler", "7\n")
        clocksource = self.sysfs / "devices/system/clocksource/clocksource0"
        self.write(clocksource / "available_clocksource", "kvm-clock tsc acpi_pm \n")
        self.write(clocksource / "current_clocksource", "kvm-clock\n")
        self.write(self.rootfs / "etc/os-release", textwrap.dedent("""\
            PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
            NAME="Debian GNU/Linux"
            VERSION_ID="12"
            VERSION="12 (bookworm)"
            VERSION_CODENAME=bookworm
            ID=debian
            """))
        self.write(self.rootfs / "run/udev/data/b254:0",
                   "S:disk/by-path/virtio-pci-0000:00:05.0\nE:ID_PATH=pci-0000:00:05.0\n"
                   "E:ID_SERIAL_SHORT=abc123\nE:ID_MODEL=QEMU_DISK\n")
        (self.rootfs / "srv/data store").mkdir(parents=True)

    @staticmethod
    def write(path: Path, text: str) -> None:
        """Write ``text`` at ``path``, making its folders."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def write_mounts(self, mounts: list[tuple[str, str, str, str]]) -> None:
        """PID 1's mounts table: (device, mount point as the kernel escapes it, type, options)."""
        self.write(self.procfs / "1/mounts",
                   "".join(f"{d} {m} {t} {o} 0 0\n" for d, m, t, o in mounts))

    def remove(self, relative: str) -> None:
        """Remove a file of procfs (``net/dev``), as a kernel without it would."""
        os.remove(self.procfs / relative)

    def config(self, **overrides: Any) -> HostConfig:
        """A HostConfig reading this tree (and its textfile folder)."""
        values: dict[str, Any] = {"procfs": str(self.procfs), "sysfs": str(self.sysfs),
                  "rootfs": str(self.rootfs), "textfile_directory": str(self.textfiles)}
        values.update(overrides)
        return HostConfig(**values)
