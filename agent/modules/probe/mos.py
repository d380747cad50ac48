"""A call-quality estimate from an ICMP burst: ITU-T G.107's E-model, simplified as VoIP
monitors do (Cole & Rosenbluth, "Voice over IP performance monitoring", ACM SIGCOMM CCR 31(2),
2001).

    R = R0 - Id(d) - Ie_eff(Ppl)          (G.107 7.1, with Is folded into R0 and A = 0)
    MOS = f(R)                            (G.107 Annex B)

Only delay and packet loss vary: R0 = 93.2 is G.107's R for its default values (loudness
ratings, noise, sidetone, echo), the quality of an undisturbed narrowband G.711 call.

``d``, the one-way mouth-to-ear delay in ms, is taken as RTT/2 + 2 x jitter + the codec's
allowance: half the round trip is the network's one-way delay, a jitter buffer sized at twice the
jitter adds 2 x jitter, and the codec adds its packetisation (20 ms, RTP's default ``ptime``) and
look-ahead. Loss is taken as random (BurstR = 1): a burst of ten echo requests cannot tell
bursty loss from random loss, and bursty loss impairs more, so the estimate is an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

R0_DEFAULT = 93.2  # R of G.107's default values (its Table 3)
DELAY_KNEE_MS = 177.3  # Cole & Rosenbluth's Id: the slope steepens past this one-way delay

Codec = Literal["g711", "g729a"]


@dataclass(frozen=True)
class CodecImpairment:
    """A codec's E-model values: equipment impairment Ie, packet-loss robustness Bpl (ITU-T
    G.113 Appendix I) and the one-way delay it adds, in ms."""

    ie: float
    bpl: float
    delay_ms: float


CODECS: dict[Codec, CodecImpairment] = {
    # G.711 with its Appendix I packet loss concealment: Ie 0, Bpl 25.1 (G.113 Appendix I).
    "g711": CodecImpairment(ie=0.0, bpl=25.1, delay_ms=20.0),
    # G.729A (+VAD): Ie 11, Bpl 19.0 (G.113 Appendix I); 20 ms packets plus 5 ms look-ahead.
    "g729a": CodecImpairment(ie=11.0, bpl=19.0, delay_ms=25.0),
}
"""G.722 is left out: its impairments are on G.107.1's wideband scale (R up to 129), which
this narrowband model cannot mix with."""


def effective_delay_ms(rtt_ms: float, jitter_ms: float, codec_delay_ms: float) -> float:
    """One-way mouth-to-ear delay d in ms: RTT/2 + 2 x jitter + the codec's allowance."""
    return rtt_ms / 2 + 2 * jitter_ms + codec_delay_ms


def delay_impairment(d_ms: float) -> float:
    """Id for one-way delay ``d_ms``: 0.024 d + 0.11 (d - 177.3) H(d - 177.3).

    Cole & Rosenbluth's linear fit of G.107's Id (7.4) for echo-free paths; H is the step
    function, so the second term counts only past 177.3 ms. Id(0) = 0, Id(177.3) = 4.26.
    """
    return 0.024 * d_ms + (0.11 * (d_ms - DELAY_KNEE_MS) if d_ms > DELAY_KNEE_MS else 0.0)


def effective_equipment_impairment(ie: float, bpl: float, ppl_percent: float,
                                   burst_r: float = 1.0) -> float:
    """Ie_eff = Ie + (95 - Ie) x Ppl / (Ppl / BurstR + Bpl) (G.107 7.5).

    ``ppl_percent`` is the packet-loss probability in percent (0..100); ``burst_r`` 1 for
    random loss, above 1 for bursty loss.
    """
    if not 0 <= ppl_percent <= 100:
        raise ValueError(f"packet loss must be 0..100 %, got {ppl_percent}")
    return ie + (95 - ie) * ppl_percent / (ppl_percent / burst_r + bpl)


def r_factor(d_ms: float, ppl_percent: float, codec: CodecImpairment = CODECS["g711"],
             r0: float = R0_DEFAULT, burst_r: float = 1.0) -> float:
    """R = R0 - Id - Ie_eff, at least 0 (the bottom of G.107's scale)."""
    r = r0 - delay_impairment(d_ms) - effective_equipment_impairment(
        codec.ie, codec.bpl, ppl_percent, burst_r)
    return max(r, 0.0)


def mos_from_r(r: float) -> float:
    """MOS (1..4.5) from R, by G.107 Annex B: 1 below R 0, 4.5 above R 100, else
    1 + 0.035 R + R (R - 60) (100 - R) 7e-6, at least 1 (the polynomial dips to 0.99 below
    R 6.5, off the MOS scale)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


def estimate(rtt_s: float, jitter_s: float, loss_ratio: float,
             codec: Codec = "g711") -> tuple[float, float]:
    """(R, MOS) of a call over a path with this mean RTT and jitter (seconds) and loss (0..1).

    A path that lost every packet carries no call: (0, 1.0), the worst, rather than R from
    delay-less loss alone.
    """
    if loss_ratio >= 1:
        return 0.0, 1.0
    impairment = CODECS[codec]
    d = effective_delay_ms(rtt_s * 1000, jitter_s * 1000, impairment.delay_ms)
    r = r_factor(d, loss_ratio * 100, impairment)
    return r, mos_from_r(r)
