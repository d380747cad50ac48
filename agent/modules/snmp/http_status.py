"""VC endpoints whose status is only in an HTTP API: JSON or XML documents mapped to metrics.

Paths are slash-separated names. In XML they are ElementTree paths from the root element
(Cisco xAPI ``/getxml?location=/Status`` answers ``<Status><SIP><Registration>...``); in JSON
they are object keys, and lists met on the way are flattened, so ``terminals/RegStatus`` reads
the field of every terminal.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

from agent.modules.snmp.config import Device
from agent.modules.snmp.decode import Sample
from agent.modules.snmp.definitions import Definition, HttpMetric


class HttpStatusError(Exception):
    """A failed status request; ``reason`` is the label value (connect, status, auth, decode)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def tls_context(device: Device) -> ssl.SSLContext | None:
    """The TLS settings of an https URL: system CAs, the device's ca_file, or no check."""
    if device.url is None or not device.url.startswith("https://"):
        return None
    context = ssl.create_default_context(cafile=device.ca_file)
    if device.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _fetch(url: str, timeout: float, username: str | None, password: str | None,
           context: ssl.SSLContext | None = None) -> bytes:
    headers = {"Accept": "application/json, application/xml, text/xml"}
    if username is not None:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            return bytes(resp.read(8 * 1024 * 1024))
    except urllib.error.HTTPError as exc:
        reason = "auth" if exc.code in (401, 403) else "status"
        raise HttpStatusError(reason, f"GET {url}: HTTP {exc.code}") from None
    except ssl.SSLError as exc:
        raise HttpStatusError("tls", f"GET {url}: {exc.reason or exc} (set ca_file, or "
                                     "insecure_skip_verify: true)") from None
    except TimeoutError:
        raise HttpStatusError("timeout", f"GET {url}: no answer in {timeout:g}s") from None
    except (urllib.error.URLError, OSError) as exc:
        cause = getattr(exc, "reason", exc)
        if isinstance(cause, ssl.SSLError):
            raise HttpStatusError("tls", f"GET {url}: {cause.reason or cause} (set ca_file, "
                                         "or insecure_skip_verify: true)") from None
        raise HttpStatusError("connect", f"GET {url}: {cause}") from None


def select(node: Any, path: str) -> list[Any]:
    """The nodes at ``path`` below ``node`` (XML element or parsed JSON)."""
    if not path:
        return [node]
    if isinstance(node, ET.Element):
        return node.findall(path)
    current = [node]
    for step in path.split("/"):
        following: list[Any] = []
        for item in current:
            for obj in item if isinstance(item, list) else [item]:
                if isinstance(obj, dict) and step in obj:
                    child = obj[step]
                    following += child if isinstance(child, list) else [child]
        current = following
    return current


def _text(node: Any) -> str | None:
    if isinstance(node, ET.Element):
        return (node.text or "").strip()
    if isinstance(node, bool):
        return "1" if node else "0"
    if isinstance(node, (int, float, str)):
        return str(node).strip()
    return None


def _number(metric: HttpMetric, node: Any) -> float | None:
    text = _text(node)
    if text is None:
        return None
    if metric.value_map:
        return metric.value_map.get(text)
    try:
        return float(text)
    except ValueError:
        return None


_REDUCE: dict[str, Callable[[list[float]], float]] = {
    "first": lambda v: v[0], "max": max, "min": min, "sum": sum, "count": len,
    "avg": lambda v: sum(v) / len(v),
}


class HttpDecoder:
    """Reads one http_json / http_xml definition from a device; counts dropped values."""

    def __init__(self, definition: Definition, device_labels: Mapping[str, str]) -> None:
        self.definition = definition
        self.base_labels = {**definition.labels, **device_labels}
        self.dropped = 0

    def parse(self, body: bytes) -> Any:
        """The document's root (an Element or a JSON value)."""
        try:
            if self.definition.kind == "http_xml":
                return ET.fromstring(body)
            return json.loads(body)
        except (ET.ParseError, ValueError) as exc:
            raise HttpStatusError("decode", f"not valid {self.definition.kind[5:].upper()}: "
                                            f"{exc}") from None

    def samples(self, metric: HttpMetric, root: Any) -> list[Sample]:
        """The samples of one metric from a parsed document."""
        groups: dict[tuple[tuple[str, str], ...], list[float]] = {}
        for node in select(root, metric.each):
            labels = dict(self.base_labels)
            for label, path in metric.label_paths.items():
                found = select(node, path)
                text = _text(found[0]) if found else None
                labels[label] = (text or "").lower()
            labels.update(metric.labels)
            for value_node in select(node, metric.value):
                value = _number(metric, value_node)
                if value is not None and metric.divide_by:
                    divisors = select(node, metric.divide_by)
                    divisor = _number(HttpMetric("", ""), divisors[0]) if divisors else None
                    value = value / divisor if divisor else None
                if value is None:
                    self.dropped += 1
                    continue
                groups.setdefault(tuple(sorted(labels.items())), []).append(value * metric.scale)
        if not groups and metric.default is not None:
            labels = {**self.base_labels, **metric.labels}
            return [Sample(metric.name, "gauge", metric.help, labels, metric.default)]
        return [Sample(metric.name, "gauge", metric.help, dict(key), _REDUCE[metric.reduce](vs))
                for key, vs in groups.items()]


async def collect_http(device: Device, definition: Definition) -> tuple[list[Sample], int]:
    """GET every request of ``definition`` from the device; (samples, dropped values)."""
    assert device.url is not None
    decoder = HttpDecoder(definition, device.labels)
    password = device.password()
    context = tls_context(device)
    out: list[Sample] = []
    for request in definition.requests:
        url = device.url.rstrip("/") + request.path
        body = await asyncio.to_thread(_fetch, url, device.timeout_budget, device.username,
                                       password.reveal() if password is not None else None,
                                       context)
        root = decoder.parse(body)
        for metric in request.metrics:
            out += decoder.samples(metric, root)
    return out, decoder.dropped
