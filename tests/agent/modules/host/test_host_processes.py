"""The processes section (off by default) and the rootfs prefix, on a fixture tree."""

from __future__ import annotations

from pathlib import Path

from agent.modules.host.processes import parse_stat
from agent.modules.host.roots import Roots
from tests.agent.modules.host.collect import collect, succeeded
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, samples, value

# pid 42's command holds spaces and parentheses; fields count from its last ")".
STAT_1 = "1 (init) {} 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 9 10 11"
STAT_42 = "42 (my (odd) cmd) {} 1 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 2 0 9 10 11"


def add_process(tree: HostTree, stat: str, state: str, thread_states: list[str]) -> None:
    pid = int(stat.split()[0])
    tree.write(tree.procfs / str(pid) / "stat", stat.format(state) + "\n")
    for tid, thread_state in enumerate(thread_states, start=pid):
        tree.write(tree.procfs / str(pid) / "task" / str(tid) / "stat",
                   stat.format(thread_state) + "\n")


def test_parse_stat_counts_from_the_last_parenthesis() -> None:
    assert parse_stat(STAT_42.format("R")) == ("R", 2)
    assert parse_stat(STAT_1.format("S")) == ("S", 1)


def test_processes_off_by_default(tree: HostTree) -> None:
    families = collect(tree.config())
    assert "processes" not in succeeded(families)
    assert maybe_value(families, "node_processes_pids") is None


def test_processes_by_state(tree: HostTree) -> None:
    add_process(tree, STAT_1, "S", ["S"])
    add_process(tree, STAT_42, "R", ["R", "D"])
    (tree.procfs / "77").mkdir()  # exited between listing and reading: left out
    tree.write(tree.procfs / "sys/kernel/pid_max", "32768\n")
    tree.write(tree.procfs / "sys/kernel/threads-max", "192730\n")
    families = collect(tree.config(processes=True))
    assert succeeded(families)["processes"] == 1
    assert value(families, "node_processes_pids") == 2
    assert value(families, "node_processes_threads") == 3
    assert value(families, "node_processes_max_processes") == 32768
    assert value(families, "node_processes_max_threads") == 192730
    assert samples(families, "node_processes_state") == {(("state", "R"),): 1,
                                                         (("state", "S"),): 1}
    assert samples(families, "node_processes_threads_state") == {
        (("thread_state", "D"),): 1, (("thread_state", "R"),): 1, (("thread_state", "S"),): 1}


def test_strip_rootfs() -> None:
    roots = Roots(rootfs=Path("/rootfs"))
    assert roots.strip_rootfs("/rootfs") == "/"
    assert roots.strip_rootfs("/rootfs/home") == "/home"
    assert roots.strip_rootfs("/rootfsx") == "/rootfsx"
    assert Roots().strip_rootfs("/home") == "/home"
    assert roots.root("/home") == Path("/rootfs/home")


def test_mounts_seen_through_rootfs_are_named_as_the_host_names_them(tree: HostTree) -> None:
    """A container reading its own mounts sees the host under rootfs: labels drop the prefix."""
    tree.write_mounts([("/dev/vda", str(tree.rootfs), "ext4", "rw"),
                       ("/dev/vdb", f"{tree.rootfs}/srv/data\\040store", "xfs", "ro")])
    families = collect(tree.config())
    mounts = {dict(k)["mountpoint"] for k in samples(families, "node_filesystem_size_bytes")}
    assert mounts == {"/", "/srv/data store"}
