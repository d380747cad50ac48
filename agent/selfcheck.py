"""``python -m agent.selfcheck``: the installer's last step, "is this agent working?".

    $ /opt/commune-agent/bin/python -m agent.selfcheck --url http://127.0.0.1:9810 --push
    ready: http://127.0.0.1:9810/-/ready
    pushing: 412 samples delivered to the gateway
    done

Waits for ``/-/ready`` (the first collection finished), then, when the agent pushes, for the first
delivered sample (``commune_push_sent_samples_total`` > 0). A token the gateway refuses shows as
``commune_push_dropped_samples_total{reason="rejected"}`` and fails at once with what to do.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from prometheus_client.parser import text_string_to_metric_families


class CheckFailed(Exception):
    """The agent did not become healthy; the message says what to look at."""


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError):
        return 0, ""


def push_counts(exposition: str) -> tuple[float, float]:
    """(samples delivered, samples the gateway rejected) from the agent's /metrics."""
    sent = rejected = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "commune_push_sent_samples_total":
                sent += sample.value
            elif (sample.name == "commune_push_dropped_samples_total"
                  and sample.labels.get("reason") == "rejected"):
                rejected += sample.value
    return sent, rejected


def check(base_url: str, push: bool, timeout: float, poll: float = 0.5) -> float:
    """Wait until ready (and, with ``push``, delivering); the samples sent, or CheckFailed."""
    deadline = time.monotonic() + timeout
    while _get(f"{base_url}/-/ready")[0] != 200:
        if time.monotonic() > deadline:
            raise CheckFailed(f"{base_url}/-/ready did not answer 200 within {timeout:.0f}s; "
                              "look at the agent's log (journalctl -u commune-agent -n 50)")
        time.sleep(poll)
    print(f"ready: {base_url}/-/ready", flush=True)
    if not push:
        return 0.0
    while True:
        status, body = _get(f"{base_url}/metrics")
        sent, rejected = push_counts(body) if status == 200 else (0.0, 0.0)
        if sent > 0:
            print(f"pushing: {sent:.0f} samples delivered to the gateway", flush=True)
            return sent
        if rejected > 0:
            raise CheckFailed("the gateway refused this node's token (HTTP 401/4xx): it was "
                              "revoked, or belongs to another node; ask the province for a new "
                              "enrolment (commune-collector enrol --reissue) and re-run the "
                              "installer with the new --enrol code")
        if time.monotonic() > deadline:
            raise CheckFailed(f"no sample reached the gateway within {timeout:.0f}s; check the "
                              "push url in agent.yml, the network path to the province and the "
                              "agent's log (journalctl -u commune-agent -n 50)")
        time.sleep(poll)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when the agent is ready (and pushing), 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m agent.selfcheck")
    parser.add_argument("--url", required=True, help="the agent's base URL")
    parser.add_argument("--push", action="store_true", help="also wait for a delivered sample")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    try:
        check(args.url.rstrip("/"), args.push, args.timeout)
    except CheckFailed as exc:
        print(f"selfcheck: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
