"""The metrics of the ``throughput`` probe, labelled ``target`` and ``direction``.

``direction`` is ``download`` (province to commune, iperf3 ``-R``) or ``upload``. They are the
last run's values: a run happens once an hour, at the target's slot, and its values stay until
the next one.
"""

from __future__ import annotations

from agent.modules.base import MetricSpec

TD = ("target", "direction")

BITS_PER_SECOND = MetricSpec("commune_throughput_bits_per_second", "gauge",
                             "TCP goodput the receiver measured over the last run.", TD)
RETRANSMITS = MetricSpec("commune_throughput_retransmits", "gauge",
                         "TCP retransmits the sender counted over the last run.", TD)
LATENCY_UNDER_LOAD = MetricSpec("commune_latency_under_load_seconds", "gauge",
                                "Median RTT to the target while the transfer ran.", TD)
IDLE_LATENCY = MetricSpec("commune_throughput_idle_latency_seconds", "gauge",
                          "Median RTT to the target just before the transfers (the baseline).",
                          ("target",))
BUFFERBLOAT_GRADE = MetricSpec("commune_bufferbloat_grade", "gauge",
                               "1 for the grade (A+, A, B, C, D, F) of the latency the transfer "
                               "added over the idle RTT, by Waveform's thresholds; 0 for the "
                               "others.", (*TD, "grade"))
BYTES_TODAY = MetricSpec("commune_throughput_budget_used_bytes", "gauge",
                         "Bytes the transfers moved today (UTC), against daily_budget.",
                         ("target",))
SKIPPED = MetricSpec("commune_throughput_skipped_total", "counter",
                     "Transfers not run because they would have exceeded daily_budget.", TD)
RUNS = MetricSpec("commune_throughput_runs_total", "counter",
                  "Transfers run (failed ones included).", TD)
LAST_RUN = MetricSpec("commune_throughput_last_run_timestamp_seconds", "gauge",
                      "When the last run finished (Unix time).", ("target",))
STATE_ERRORS = MetricSpec("commune_throughput_state_errors_total", "counter",
                          "Budget state files that could not be read (damaged or foreign: the "
                          "day's budget is then taken as used up) or written.", ("target",))

THROUGHPUT_METRICS = (BITS_PER_SECOND, RETRANSMITS, LATENCY_UNDER_LOAD, IDLE_LATENCY,
                      BUFFERBLOAT_GRADE, BYTES_TODAY, SKIPPED, RUNS, LAST_RUN, STATE_ERRORS)
