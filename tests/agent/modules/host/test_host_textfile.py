"""The textfile section: node_exporter's textfile collector and its error handling."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from agent.exposition import render
from agent.modules.host.textfile import TextfileCollector
from tests.agent.modules.host.collect import collect, succeeded
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, samples, value

GOOD = '# HELP job_ok Whether the job passed.\n# TYPE job_ok gauge\njob_ok{job="backup"} 1\n'


def textfile_families(directory: Path) -> list[Metric]:
    return list(TextfileCollector(directory).collect())


def test_files_merged_into_the_exposition(tree: HostTree) -> None:
    (tree.textfiles / "backup.prom").write_text(GOOD)
    (tree.textfiles / "counts.prom").write_text(
        "# TYPE runs_total counter\nruns_total 12\nuntyped_thing{a=\"x y\"} 3\n")
    (tree.textfiles / "notes.txt").write_text("not a textfile\n")  # only *.prom are read
    os.utime(tree.textfiles / "backup.prom", (1_700_000_000, 1_700_000_000))
    families = collect(tree.config())
    assert succeeded(families)["textfile"] == 1
    assert value(families, "job_ok", job="backup") == 1
    assert value(families, "runs_total") == 12
    assert value(families, "untyped_thing", a="x y") == 3
    assert value(families, "node_textfile_scrape_error") == 0
    mtimes = samples(families, "node_textfile_mtime_seconds")
    assert {dict(k)["file"] for k in mtimes} == {str(tree.textfiles / "backup.prom"),
                                                 str(tree.textfiles / "counts.prom")}
    assert value(families, "node_textfile_mtime_seconds",
                 file=str(tree.textfiles / "backup.prom")) == 1_700_000_000
    text = render(families).decode()
    assert "# TYPE runs_total counter" in text
    assert f"# HELP untyped_thing Metric read from {tree.textfiles / 'counts.prom'}" in text


def test_a_bad_file_is_an_error_for_that_file_only(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text(GOOD)
    (tmp_path / "b.prom").write_text("garbage{{\n")
    (tmp_path / "c.prom").write_text("stamped 1 1700000000000\n")  # client-side timestamp
    (tmp_path / "d.prom").write_bytes(b"bad_utf8 \xff\n")
    (tmp_path / "e.prom").write_text("# TYPE later gauge\nlater 5\n")
    families = textfile_families(tmp_path)
    assert value(families, "node_textfile_scrape_error") == 1
    assert value(families, "job_ok", job="backup") == 1
    assert value(families, "later") == 5
    assert maybe_value(families, "stamped") is None
    files = {Path(dict(k)["file"]).name for k in samples(families,
                                                          "node_textfile_mtime_seconds")}
    assert files == {"a.prom", "e.prom"}


def test_a_file_over_the_size_cap_is_skipped_unread(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "a.prom").write_text(GOOD)
    huge = tmp_path / "huge.prom"
    with huge.open("wb") as file:  # sparse: 17 MiB that take no room
        file.truncate(17 << 20)
    with caplog.at_level(logging.WARNING, logger="agent.modules.host.textfile"):
        families = textfile_families(tmp_path)
    assert value(families, "node_textfile_scrape_error") == 1
    assert value(families, "job_ok", job="backup") == 1
    assert f"textfile skipped: {huge}: file is 17 MiB, over the 16 MiB limit for a textfile" \
        in caplog.text


def test_conflicting_help_or_type_as_node_exporter(tmp_path: Path) -> None:
    """The first file fixes a family's help and type; later samples that differ are dropped."""
    (tmp_path / "a.prom").write_text('# HELP m first\n# TYPE m gauge\nm{x="1"} 3\n')
    (tmp_path / "b.prom").write_text('m{x="2"} 4\nshared{f="b"} 1\n')  # no help: differs
    (tmp_path / "c.prom").write_text('# HELP m first\n# TYPE m histogram\nm_count{x="3"} 1\n')
    (tmp_path / "d.prom").write_text('# HELP m first\n# TYPE m gauge\nm{x="4"} 9\nm{x="1"} 0\n'
                                     'shared{f="d"} 2\n')
    families = textfile_families(tmp_path)
    assert samples(families, "m") == {(("x", "1"),): 3, (("x", "4"),): 9}
    # two files without help share one generated help, so both are kept
    assert value(families, "shared", f="b") == 1 and value(families, "shared", f="d") == 2
    shared = next(f for f in families if f.name == "shared")
    assert shared.documentation == f"Metric read from {tmp_path / 'b.prom'}, {tmp_path / 'd.prom'}"
    # m{x=2} (help), m_count{x=3} (type), m{x=1} again (duplicate series)
    assert value(families, "commune_host_textfile_dropped_samples") == 3
    assert value(families, "node_textfile_scrape_error") == 0


def test_host_family_names_are_left_to_the_host(tree: HostTree) -> None:
    (tree.textfiles / "clash.prom").write_text("node_load1 99\nnode_memory_Fake_bytes 1\nok 1\n")
    families = collect(tree.config())
    assert value(families, "node_load1") == 0.5
    assert maybe_value(families, "node_memory_Fake_bytes") is None
    assert value(families, "ok") == 1
    assert value(families, "commune_host_textfile_dropped_samples") == 2
    assert len([f for f in families if f.name == "node_load1"]) == 1


def test_missing_folder_is_an_error_not_a_failure(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    collector = TextfileCollector(tmp_path / "nowhere")
    with caplog.at_level(logging.WARNING, logger="agent.modules.host.textfile"):
        for _ in range(3):
            families = list(collector.collect())
    assert value(families, "node_textfile_scrape_error") == 1
    assert not samples(families, "node_textfile_mtime_seconds")
    assert len(caplog.records) == 1  # said once, not at every collection
    (tmp_path / "nowhere").mkdir()
    assert value(list(collector.collect()), "node_textfile_scrape_error") == 0


def test_no_textfile_section_without_a_folder(tree: HostTree) -> None:
    families = collect(tree.config(textfile_directory=""))
    assert "textfile" not in succeeded(families)
    assert maybe_value(families, "node_textfile_scrape_error") is None


def test_diag_results_show_through_the_agent(tree: HostTree, tmp_path: Path) -> None:
    """What ``commune-diag --textfile`` writes is served by ``commune-agent once``."""
    (tree.textfiles / "diag.prom").write_text(
        "# HELP commune_diag_check_success 1 if the check passed on the node, 0 if it failed.\n"
        "# TYPE commune_diag_check_success gauge\n"
        'commune_diag_check_success{runbook="basic",check="ping-gateway",commune="14797",'
        'node="lan-pc"} 1\n'
        "# HELP commune_diag_last_run_timestamp_seconds When the runbook was last run.\n"
        "# TYPE commune_diag_last_run_timestamp_seconds gauge\n"
        'commune_diag_last_run_timestamp_seconds{runbook="basic"} 1700000000.000\n')
    config = tmp_path / "agent.yml"
    config.write_text(f'commune: "16318"\nmodules:\n  host:\n    procfs: {tree.procfs}\n'
                      f"    sysfs: {tree.sysfs}\n    rootfs: {tree.rootfs}\n"
                      f"    textfile_directory: {tree.textfiles}\n")
    result = subprocess.run([sys.executable, "-m", "agent.cli", "once", "--config.file",
                             str(config)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    # the file's commune (the commune the technician checked) is kept beside the agent's
    assert value(result.stdout, "commune_diag_check_success", check="ping-gateway",
                 node="lan-pc", exported_commune="14797", commune="16318") == 1
    assert value(result.stdout, "commune_diag_last_run_timestamp_seconds",
                 runbook="basic") == 1_700_000_000
    assert value(result.stdout, "node_load5", commune="16318") == 1.25  # the tree's, not ours


def test_counter_without_total_served_untyped(tmp_path: Path) -> None:
    (tmp_path / "a.prom").write_text("# TYPE runs counter\nruns 3\n")
    text = render(textfile_families(tmp_path)).decode()
    assert "# TYPE runs untyped" in text and "\nruns 3.0\n" in text
