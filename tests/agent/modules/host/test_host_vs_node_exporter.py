"""The host module against Debian's node_exporter on this machine: same families, same shapes.

node_exporter runs with its default collectors, its processes collector and a textfile folder
the agent reads too (the agent with ``processes: true``). Every
family both expose has the same type, help and label names; every node_exporter family the agent
lacks comes from a collector the agent does not have (hardware sensors, RAID, ZFS...).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.exposition import render
from agent.modules.host import HostModule
from agent.modules.host_config import HostConfig
from tests.support.node_exporter import NodeExporter, parse, shapes
from tests.support.samples import samples, value

pytestmark = pytest.mark.peer

# node_exporter collectors the host module leaves out: hardware, storage stacks and services
# a commune office PC does not have, or that need privileges (docs/agent/host.md).
NOT_COLLECTED = ("node_bcache_", "node_bonding_", "node_btrfs_", "node_cooling_device_",
                 "node_cpu_frequency_", "node_cpu_scaling_", "node_cpu_core_throttles",
                 "node_cpu_package_throttles", "node_cpu_info", "node_dmi_", "node_edac_",
                 "node_fibrechannel_", "node_hwmon_", "node_infiniband_", "node_ipvs_",
                 "node_md_", "node_nfs_", "node_nfsd_", "node_nvme_", "node_power_supply_",
                 "node_rapl_", "node_schedstat_", "node_systemd_", "node_tape_",
                 "node_thermal_zone_", "node_xfs_", "node_zfs_", "node_network_phys_",
                 "node_network_device_port")


def test_same_families_as_node_exporter(tmp_path: Path) -> None:
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    (textfiles / "job.prom").write_text("# HELP job_ok Job passed.\n# TYPE job_ok gauge\n"
                                        'job_ok{job="backup"} 1\nbare_thing 2\n')
    config = HostConfig(textfile_directory=str(textfiles), processes=True)
    with NodeExporter(tmp_path, [f"--collector.textfile.directory={textfiles}",
                                 "--collector.processes"]) as exporter:
        theirs_text = exporter.scrape()
        ours_families = list(HostModule(config).collect())
    theirs = parse(theirs_text)
    ours = parse(render(ours_families).decode())
    their_shapes = shapes(theirs)
    our_shapes = shapes(ours, ignore=("commune_host_uptime_seconds",
                                      "commune_host_textfile_dropped_samples",
                                      "commune_host_filesystem_stuck_mounts"))

    missing = sorted(n for n in set(their_shapes) - set(our_shapes)
                     if not n.startswith(NOT_COLLECTED))
    assert missing == [], f"node_exporter families the agent lacks: {missing}"
    assert set(our_shapes) - set(their_shapes) <= {"node_selinux_current_mode"}
    differ = {n: (their_shapes[n], our_shapes[n]) for n in set(their_shapes) & set(our_shapes)
              if their_shapes[n] != our_shapes[n]}
    assert differ == {}

    # The agent's sections are node_exporter collectors of the same names, all succeeding.
    their_collectors = {dict(k)["collector"]: v for k, v in
                        samples(theirs, "node_scrape_collector_success").items()}
    our_collectors = {dict(k)["collector"]: v for k, v in
                      samples(ours, "node_scrape_collector_success").items()}
    assert set(our_collectors) <= set(their_collectors)
    assert {c for c, ok in our_collectors.items() if ok} >= {
        c for c, ok in their_collectors.items() if ok and c in our_collectors}

    # Values that cannot move between the two reads.
    for name, labels in (("node_boot_time_seconds", {}), ("node_memory_MemTotal_bytes", {}),
                         ("node_filesystem_size_bytes", {"mountpoint": "/"}),
                         ("node_entropy_pool_size_bits", {}),
                         ("job_ok", {"job": "backup"}), ("bare_thing", {})):
        assert value(ours, name, **labels) == value(theirs, name, **labels), name
    for name in ("node_network_up", "node_network_speed_bytes", "node_network_mtu_bytes",
                 "node_network_info", "node_disk_info", "node_time_clocksource_current_info"):
        assert samples(ours, name) == samples(theirs, name), name
    assert set(samples(ours, "node_cpu_seconds_total")) == set(
        samples(theirs, "node_cpu_seconds_total"))
    assert set(samples(ours, "node_textfile_mtime_seconds")) == set(
        samples(theirs, "node_textfile_mtime_seconds"))
