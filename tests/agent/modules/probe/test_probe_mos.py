"""The E-model call-quality estimate: G.107's published reference points, and icmp targets
with ``mos: true`` against real paths (loopback, and a dead path in a namespace of the test's)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

from agent.config import AgentConfig
from agent.modules.probe.config import ProbeConfig
from agent.modules.probe.mos import (
    CODECS,
    R0_DEFAULT,
    delay_impairment,
    effective_delay_ms,
    effective_equipment_impairment,
    estimate,
    mos_from_r,
    r_factor,
)
from agent.modules.probe.targets import IcmpTarget
from common.schema import ConfigError, load_yaml
from tests.support.paths import ROOT
from tests.support.peers import require_binary
from tests.support.probe_peers import probe
from tests.support.samples import maybe_value, value

# --- the formulas against published values ------------------------------------------------------

def test_default_r_is_a_411_call() -> None:
    # G.107: its default values give R = 93.2, MOS 4.41 (the best narrowband G.711 call).
    assert R0_DEFAULT == 93.2
    assert round(mos_from_r(93.2), 2) == 4.41


@pytest.mark.parametrize(("r", "mos"), [(90, 4.34), (80, 4.03), (70, 3.60), (60, 3.10),
                                        (50, 2.58)])
def test_mos_at_the_category_bounds_of_g107_annex_b(r: float, mos: float) -> None:
    # The lower bounds of G.107 Table B.1's categories ("best" to "poor"). The formula gives
    # 4.024 at R 80, which the table prints as 4.03: hence 0.01, not exact rounding.
    assert mos_from_r(r) == pytest.approx(mos, abs=0.01)


def test_mos_is_clamped_outside_0_to_100() -> None:
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(0) == 1.0
    assert mos_from_r(100) == 4.5
    assert mos_from_r(120) == 4.5
    # the polynomial dips below 1 under R 6.5 (0.992 at R 5): held at 1, then rising
    assert mos_from_r(5) == 1.0
    assert all(mos_from_r(r) < mos_from_r(r + 1) for r in range(7, 100))


def test_delay_impairment_of_cole_and_rosenbluth() -> None:
    assert delay_impairment(0) == 0
    assert delay_impairment(177.3) == pytest.approx(4.2552)  # 0.024 x 177.3, the knee
    assert delay_impairment(300) == pytest.approx(0.024 * 300 + 0.11 * (300 - 177.3))  # 20.697
    assert delay_impairment(300) == pytest.approx(20.697)
    # G.114's 150 ms one-way "acceptable for most applications" stays a high-quality call
    assert mos_from_r(R0_DEFAULT - delay_impairment(150)) == pytest.approx(4.33, abs=0.01)


@pytest.mark.parametrize(("ppl", "ie_eff", "fit"), [(1, 3.640, 4.19), (2, 7.011, 7.87),
                                                    (5, 15.781, 16.79)])
def test_g711_plc_loss_impairment(ppl: float, ie_eff: float, fit: float) -> None:
    """G.711 with PLC (Ie 0, Bpl 25.1), random loss (BurstR 1): 95 Ppl / (Ppl + 25.1).

    Cross-checked with Cole & Rosenbluth's own fit of the G.113 data for G.711 with PLC,
    Ie = 30 ln(1 + 15 e) (e the loss ratio): within 1.1 R points up to 5 % loss.
    """
    g711 = CODECS["g711"]
    assert (g711.ie, g711.bpl) == (0.0, 25.1)
    got = effective_equipment_impairment(g711.ie, g711.bpl, ppl)
    assert got == pytest.approx(ie_eff, abs=0.001)
    assert 30 * math.log(1 + 15 * ppl / 100) == pytest.approx(fit, abs=0.01)
    assert abs(got - fit) < 1.1


def test_loss_impairment_bounds_and_burstiness() -> None:
    g729a = CODECS["g729a"]
    assert effective_equipment_impairment(g729a.ie, g729a.bpl, 0) == 11  # the codec's own Ie
    # 100 % loss tends to 95 (no speech) only as Bpl vanishes; bursty loss impairs more
    assert effective_equipment_impairment(0, 25.1, 2, burst_r=2) > \
        effective_equipment_impairment(0, 25.1, 2)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        effective_equipment_impairment(0, 25.1, 101)


def test_r_and_mos_of_a_path() -> None:
    # 80 ms RTT, 5 ms jitter: d = 40 + 10 + 20 (G.711, 20 ms packets) = 70 ms
    assert effective_delay_ms(80, 5, CODECS["g711"].delay_ms) == 70
    r, mos = estimate(0.080, 0.005, 0.0)
    assert r == pytest.approx(93.2 - 0.024 * 70)  # 91.52
    assert mos == pytest.approx(mos_from_r(r)) and round(mos, 2) == 4.37
    # 2 % loss on the same path costs 7 R points: still "high" (R 80..90)
    r, _ = estimate(0.080, 0.005, 0.02)
    assert r == pytest.approx(93.2 - 1.68 - 7.0111, abs=1e-3)
    # G.729A on a clean path: its Ie 11 alone drops R to 81.6 (G.113's planning value)
    r, _ = estimate(0.0, 0.0, 0.0, "g729a")
    assert r == pytest.approx(93.2 - 0.024 * 25 - 11)
    # a dead path is the worst call, not R from loss alone
    assert estimate(0.0, 0.0, 1.0) == (0.0, 1.0)
    # R stays on G.107's scale however bad the path
    assert r_factor(2000, 90) == 0.0


# --- icmp targets with mos: true -------------------------------------------------------------

def test_mos_on_loopback_is_a_g711_best_call() -> None:
    reg = probe("""
        targets:
          - {name: vc-mcu, kind: icmp, host: 127.0.0.1, count: 5, interval: 20ms, mos: true}
          - {name: vc-g729, kind: icmp, host: 127.0.0.1, count: 5, interval: 20ms, mos: true,
             codec: g729a}
          - {name: gateway, kind: icmp, host: 127.0.0.1, count: 2, interval: 20ms}
    """)
    assert value(reg, "probe_success", target="vc-mcu", kind="icmp") == 1
    mos = value(reg, "commune_vc_mos_estimate", target="vc-mcu")
    r = value(reg, "commune_vc_r_factor", target="vc-mcu")
    # loopback: RTT and jitter well under 1 ms, so d is the 20 ms G.711 allowance: R 92.7, 4.40
    assert 92.5 < r <= 93.2 - 0.024 * 20
    assert 4.39 < mos <= 4.41
    g729 = value(reg, "commune_vc_r_factor", target="vc-g729")
    assert 81.2 < g729 <= 93.2 - 0.024 * 25 - 11
    # no estimate for a target that did not ask for one
    assert maybe_value(reg, "commune_vc_mos_estimate", target="gateway") is None


_DEAD_PATH_SCRIPT = """
import json
from tests.support.probe_peers import probe
from tests.support.samples import maybe_value
reg = probe('''
targets:
  - {name: vc-mcu, kind: icmp, host: 10.200.0.2, count: 3, interval: 50ms,
     packet_timeout: 500ms, timeout: 2s, mos: true, path_on_loss: 0s}
''')
print(json.dumps({name: maybe_value(reg, name, target="vc-mcu") for name in (
    "commune_vc_mos_estimate", "commune_vc_r_factor", "commune_probe_icmp_packet_loss_ratio")}))
"""


@pytest.mark.peer
def test_a_dead_path_scores_mos_1() -> None:
    """In a namespace of its own, 10.200.0.2 sits behind a veth whose peer drops every frame
    (a static neighbour entry to a MAC no one has): every echo request is lost silently."""
    unshare, ip = (require_binary(b) for b in ("unshare", "ip"))
    setup = (f"{ip} link set lo up && {ip} link add v0 type veth peer name v1 && "
             f"{ip} addr add 10.200.0.1/24 dev v0 && {ip} link set v0 up && "
             f"{ip} link set v1 up && "
             f"{ip} neigh add 10.200.0.2 lladdr 02:00:00:00:00:02 dev v0 nud permanent && "
             f"exec {sys.executable} -c \"$0\"")
    done = subprocess.run([unshare, "--net", "sh", "-c", setup, _DEAD_PATH_SCRIPT],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"commune_vc_mos_estimate": 1.0,
                                       "commune_vc_r_factor": 0.0,
                                       "commune_probe_icmp_packet_loss_ratio": 1.0}


# --- config ---------------------------------------------------------------------------------

def _load(text: str) -> AgentConfig:
    return load_yaml(AgentConfig, textwrap.dedent(text).lstrip("\n"), "agent.yml")


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(text)
    return [str(issue) for issue in caught.value.issues]


def test_mos_config_errors_name_file_line_and_key() -> None:
    found = _errors("""
        commune: "1"
        modules:
          probe:
            targets:
              - {name: a, kind: icmp, host: 192.0.2.1, mos: yes-please}
              - {name: b, kind: icmp, host: 192.0.2.1, mos: true, codec: g722}
              - {name: c, kind: icmp, host: 192.0.2.1, codec: g729a}
              - {name: d, kind: tcp, host: 192.0.2.1, port: 5060, mos: true}
    """)
    assert len(found) == 4, found
    a, b, c, d = found
    assert a.startswith("agent.yml:5:") and "modules.probe.targets[0].mos: " in a \
        and "true or false" in a, a
    assert a.startswith("agent.yml:5:") and "'yes-please'" in a, a
    assert b.startswith("agent.yml:6:") and "modules.probe.targets[1].codec: " in b \
        and "expected one of 'g711', 'g729a'" in b, b
    assert c.startswith("agent.yml:7:") and "modules.probe.targets[2].codec: " in c \
        and "only used with 'mos: true'" in c, c
    assert d.startswith("agent.yml:8:") and "modules.probe.targets[3].mos: unknown key" in d, d


def test_mos_defaults_off() -> None:
    config = _load("""
        commune: "1"
        modules:
          probe:
            targets:
              - {name: gw, kind: icmp, host: 192.0.2.1}
              - {name: vc-mcu, kind: icmp, host: 192.0.2.5, mos: true}
    """)
    probe_config = config.modules.entries[0].config
    assert isinstance(probe_config, ProbeConfig)
    gw, vc = probe_config.targets
    assert isinstance(gw, IcmpTarget) and isinstance(vc, IcmpTarget)
    assert (gw.mos, gw.codec) == (False, None)
    assert (vc.mos, vc.codec) == (True, None)
