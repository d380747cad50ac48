"""Fuzz the textfile section: whatever the *.prom files hold, the agent serves a valid exposition.

A file is served or skipped whole (node_textfile_scrape_error says which); the merged families
render to text that parses again, with each family once and no series twice.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from agent.exposition import render
from agent.modules.host.module import is_host_family
from agent.modules.host.textfile import TextfileCollector
from tests.support.fuzzing import fuzz

NAMES = st.sampled_from(["a", "a_total", "b", "node_load1", "job_ok", "x_bucket", "bad-name"])
LABELS = st.sampled_from(["", '{x="1"}', '{x="2"}', '{x="a b"}', '{x="\\"q\\""}', "{x=1}", "{"])
VALUES = st.sampled_from(["1", "0", "-1.5", "NaN", "+Inf", "1e3", "x", ""])
LINES = st.one_of(
    st.builds(lambda n, lb, v: f"{n}{lb} {v}", NAMES, LABELS, VALUES),
    st.builds(lambda n, t: f"# TYPE {n} {t}", NAMES,
              st.sampled_from(["gauge", "counter", "untyped", "histogram", "summary", "bogus"])),
    st.builds(lambda n, h: f"# HELP {n} {h}", NAMES, st.sampled_from(["one", "two", ""])),
    st.builds(lambda n: f"{n} 1 1700000000000", NAMES),  # a client-side timestamp
    st.text(max_size=20),
)
FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-textfile-"))  # reused: a folder per case is slow
atexit.register(shutil.rmtree, FOLDER, True)
FILES = st.lists(st.lists(LINES, max_size=8).map("\n".join), min_size=1, max_size=4)


@fuzz
@given(FILES)
def test_any_textfiles_render_a_valid_exposition(contents: list[str]) -> None:
    for old in FOLDER.iterdir():
        old.unlink()
    for n, text in enumerate(contents):
        (FOLDER / f"f{n}.prom").write_text(text)
    families = list(TextfileCollector(FOLDER, is_host_family).collect())
    text = render(families).decode()
    reparsed = list(text_string_to_metric_families(text))
    names = [f.name for f in reparsed]
    assert len(names) == len(set(names)), names
    series = [(s.name, tuple(sorted(s.labels.items()))) for f in reparsed for s in f.samples]
    assert len(series) == len(set(series))
    error = next(f for f in reparsed if f.name == "node_textfile_scrape_error")
    assert error.samples[0].value in (0.0, 1.0)
    assert not any(is_host_family(n) for n in names
                   if n.startswith("node_") and not n.startswith("node_textfile_"))
