"""The targets of the ``probe`` module: one frozen dataclass per kind, validated at load.

A target's mapping is loaded into the class its ``kind`` names in ``kinds.KINDS``, e.g.
``{name: gateway, kind: icmp, host: 192.0.2.1, count: 10}`` into ``IcmpTarget``.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from agent.modules.probe.mos import Codec
from common.schema import ExistingFile, Invalid
from common.units import ByteSize, Duration

DEFAULT_TIMEOUT = Duration(10)
DEFAULT_PATH_TIMEOUT = Duration(30)
DEFAULT_BODY_SIZE_LIMIT = ByteSize(10 * 2**20)
DEFAULT_CRL_SIZE_LIMIT = ByteSize(64 * 2**20)  # a national CA's full CRL runs to megabytes
DEFAULT_PACKET_INTERVAL = Duration(0.2)
DEFAULT_PACKET_TIMEOUT = Duration(1)
DEFAULT_RTT_JUMP = Duration(0.05)
DEFAULT_PATH_ON_LOSS = Duration(3600)
DEFAULT_TRANSFER = Duration(5)
DEFAULT_DAILY_BUDGET = ByteSize(500 * 10**6)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP method or header name (RFC 9110)


def _check_regexes(key: str, patterns: tuple[str, ...]) -> None:
    for i, pattern in enumerate(patterns):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise Invalid(f"item {i}: not a valid regular expression: {exc}", key=key) from None


def _check_common(name: str, timeout: float) -> None:
    if not name.strip():
        raise Invalid("expected a non-empty target name", key="name")
    if timeout <= 0:
        raise Invalid("must be greater than 0s", key="timeout")


def _check_host(host: str) -> None:
    if not host.strip() or any(c.isspace() for c in host) or "/" in host:
        raise Invalid(f"expected a host name or IP address, got {host!r}", key="host")


def _check_port(port: int, key: str = "port") -> None:
    if not 1 <= port <= 65535:
        raise Invalid(f"expected a port in 1..65535, got {port}", key=key)


def _check_status_codes(codes: tuple[int, ...], key: str = "valid_status_codes") -> None:
    for code in codes:
        if not 100 <= code <= 699:
            raise Invalid(f"expected status codes in 100..699, got {code}", key=key)


@dataclass(frozen=True)
class BasicAuth:
    """HTTP basic auth; the password is read from a file (first line), never from the config."""

    username: str
    password_file: ExistingFile


@dataclass(frozen=True)
class HttpTarget:
    """``kind: http``: a GET (or other method) with phase timings, status, body and TLS checks."""

    name: str
    url: str
    kind: Literal["http", "https"] = "http"
    timeout: Duration = DEFAULT_TIMEOUT
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""
    valid_status_codes: tuple[int, ...] = ()  # empty: any 2xx
    body_must_match: tuple[str, ...] = ()
    body_must_not_match: tuple[str, ...] = ()
    follow_redirects: bool = True
    max_redirects: int = 10
    body_size_limit: ByteSize = DEFAULT_BODY_SIZE_LIMIT
    basic_auth: BasicAuth | None = None
    ca_file: ExistingFile | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None  # TLS SNI and certificate name; default: the URL's host

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid(f"expected an http:// or https:// URL with a host, got {self.url!r}",
                          key="url")
        if self.kind == "https" and parts.scheme != "https":
            raise Invalid(f"kind 'https' needs an https:// URL, got {self.url!r}", key="url")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise Invalid(f"bad port in URL {self.url!r}", key="url") from None
        if not _TOKEN.fullmatch(self.method):
            raise Invalid(f"expected an HTTP method like 'GET', got {self.method!r}", key="method")
        for header, value in self.headers.items():
            if not _TOKEN.fullmatch(header) or "\r" in value or "\n" in value:
                raise Invalid(f"bad header {header!r}: names are tokens, values one line",
                              key="headers")
        _check_status_codes(self.valid_status_codes)
        _check_regexes("body_must_match", self.body_must_match)
        _check_regexes("body_must_not_match", self.body_must_not_match)
        if not 0 <= self.max_redirects <= 100:
            raise Invalid("expected 0..100", key="max_redirects")
        if self.body_size_limit <= 0:
            raise Invalid("must be greater than 0", key="body_size_limit")


@dataclass(frozen=True)
class QueryResponse:
    """One step of a TCP dialogue: wait for a line matching ``expect``, then ``send`` a line."""

    expect: str | None = None
    send: str | None = None

    def __post_init__(self) -> None:
        if self.expect is None and self.send is None:
            raise Invalid("give 'expect', 'send' or both")
        if self.expect is not None:
            _check_regexes("expect", (self.expect,))


@dataclass(frozen=True)
class TcpTarget:
    """``kind: tcp``: connect (and optionally TLS and a line dialogue such as an SMTP banner)."""

    name: str
    host: str
    port: int
    kind: Literal["tcp"] = "tcp"
    timeout: Duration = DEFAULT_TIMEOUT
    tls: bool = False
    ca_file: ExistingFile | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None
    query_response: tuple[QueryResponse, ...] = ()
    expect_closed: bool = False  # succeed only when the port refuses (telnet 23 on a VC box)

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_host(self.host)
        _check_port(self.port)
        if self.expect_closed and (self.tls or self.query_response):
            raise Invalid("a port expected closed takes no 'tls' or 'query_response'",
                          key="expect_closed")


@dataclass(frozen=True)
class H323Target:
    """``kind: h323``: TCP connect to the H.225 call-signalling port of an endpoint/gatekeeper."""

    name: str
    host: str
    port: int = 1720
    kind: Literal["h323"] = "h323"
    timeout: Duration = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_host(self.host)
        _check_port(self.port)


@dataclass(frozen=True)
class IcmpTarget:
    """``kind: icmp``: a burst of ``count`` echo requests; loss, RTT and RFC 3550 jitter."""

    name: str
    host: str
    kind: Literal["icmp"] = "icmp"
    timeout: Duration = DEFAULT_TIMEOUT
    count: int = 10
    interval: Duration = DEFAULT_PACKET_INTERVAL  # between packets
    packet_timeout: Duration = DEFAULT_PACKET_TIMEOUT  # wait for the last reply
    payload_size: int = 56
    path_on_loss: Duration = DEFAULT_PATH_ON_LOSS  # trace after loss at most this often; 0s: off
    mos: bool = False  # also estimate a call's R and MOS over this path (mos.py)
    codec: Codec | None = None  # the call's codec for that estimate; default g711

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_host(self.host)
        if self.codec is not None and not self.mos:
            raise Invalid(f"codec {self.codec!r} is only used with 'mos: true'; add it or "
                          f"remove codec", key="codec")
        if not 1 <= self.count <= 100:
            raise Invalid(f"expected 1..100 packets, got {self.count}", key="count")
        if self.interval < 0.01:
            raise Invalid("expected at least 10ms between packets", key="interval")
        if self.packet_timeout <= 0:
            raise Invalid("must be greater than 0s", key="packet_timeout")
        if not 0 <= self.payload_size <= 65000:
            raise Invalid("expected 0..65000 bytes", key="payload_size")
        needed = (self.count - 1) * self.interval + self.packet_timeout
        if needed > self.timeout:
            raise Invalid(f"{self.count} packets every {self.interval} plus a "
                          f"{self.packet_timeout} wait take {Duration(needed)}, longer than the "
                          f"timeout ({self.timeout}); lower count or raise timeout", key="count")


DnsType = Literal["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT"]
Rcode = Literal["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"]


@dataclass(frozen=True)
class DnsTarget:
    """``kind: dns``: ask ``server`` for ``query_name``; rcode, answer count and RTT."""

    name: str
    server: str
    query_name: str
    kind: Literal["dns"] = "dns"
    timeout: Duration = DEFAULT_TIMEOUT
    port: int = 53
    query_type: DnsType = "A"
    transport: Literal["udp", "tcp"] = "udp"
    valid_rcodes: tuple[Rcode, ...] = ("NOERROR",)
    fail_if_no_answer: bool = True
    recursion_desired: bool = True

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        if not self.server.strip() or any(c.isspace() for c in self.server):
            raise Invalid(f"expected the DNS server's IP address, got {self.server!r}",
                          key="server")
        _check_port(self.port)
        if not self.query_name.strip() or any(c.isspace() for c in self.query_name):
            raise Invalid(f"expected a DNS name, got {self.query_name!r}", key="query_name")
        if not self.valid_rcodes:
            raise Invalid("list at least one rcode, e.g. [NOERROR]", key="valid_rcodes")


@dataclass(frozen=True)
class SipTarget:
    """``kind: sip``: SIP OPTIONS over UDP, TCP or TLS; any final answer means the stack lives."""

    name: str
    host: str
    kind: Literal["sip"] = "sip"
    timeout: Duration = DEFAULT_TIMEOUT
    port: int | None = None  # default 5060, 5061 for TLS
    transport: Literal["udp", "tcp", "tls"] = "udp"
    valid_status_codes: tuple[int, ...] = ()  # empty: any final response
    ca_file: ExistingFile | None = None
    insecure_skip_verify: bool = False
    server_name: str | None = None
    request_uri: str | None = None  # default sip:HOST:PORT

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_host(self.host)
        if self.port is not None:
            _check_port(self.port)
        _check_status_codes(self.valid_status_codes)
        if self.request_uri is not None and not re.fullmatch(r"sips?:\S+", self.request_uri):
            raise Invalid(f"expected a SIP URI like 'sip:vc.example', got {self.request_uri!r}",
                          key="request_uri")

    @property
    def effective_port(self) -> int:
        """The port, defaulting by transport."""
        return self.port or (5061 if self.transport == "tls" else 5060)


@dataclass(frozen=True)
class PathTarget:
    """``kind: path``: an mtr-style hop list; hop count and the first hop where things go bad."""

    name: str
    host: str
    kind: Literal["path"] = "path"
    timeout: Duration = DEFAULT_PATH_TIMEOUT
    max_hops: int = 30
    count: int = 3  # probes per hop
    packet_timeout: Duration = DEFAULT_PACKET_TIMEOUT
    loss_threshold: float = 0.5  # a hop losing more than this, to the end of the path, is bad
    rtt_jump: Duration = DEFAULT_RTT_JUMP  # an RTT rise over the previous hop that persists

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_host(self.host)
        if not 1 <= self.max_hops <= 64:
            raise Invalid("expected 1..64", key="max_hops")
        if not 1 <= self.count <= 10:
            raise Invalid("expected 1..10", key="count")
        if not 0 <= self.loss_threshold < 1:
            raise Invalid("expected a ratio in 0..1 (exclusive), like 0.5", key="loss_threshold")
        if self.packet_timeout <= 0:
            raise Invalid("must be greater than 0s", key="packet_timeout")


VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")  # ${name} in a scenario step
_LABEL = re.compile(r"[A-Za-z0-9_.-]+")
DEFAULT_SCENARIO_TIMEOUT = Duration(30)


def variables_in(text: str) -> set[str]:
    """The ``${name}`` variables ``text`` uses."""
    return set(VARIABLE.findall(text))


def _check_url(url: str, key: str = "url") -> None:
    # A ${variable} may stand for a path segment or a query value: check the URL around it.
    parts = urllib.parse.urlsplit(VARIABLE.sub("x", url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"expected an http:// or https:// URL with a host, got {url!r}", key=key)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise Invalid(f"bad port in URL {url!r}", key=key) from None


@dataclass(frozen=True)
class ScenarioStep:
    """One step of a ``scenario``: a request (following its redirects) and its checks.

    ``form`` and ``form_files`` make a POST of ``application/x-www-form-urlencoded``;
    ``form_files`` values are read from files (first line), so credentials stay out of the
    config. ``extract`` takes variables from the body by regex (group 1, or the whole match),
    used as ``${name}`` in the URL, headers, form and body of later steps.
    """

    name: str
    url: str
    method: str | None = None  # default GET, POST with a form or a body
    headers: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)
    form_files: Mapping[str, ExistingFile] = field(default_factory=dict)
    body: str = ""
    valid_status_codes: tuple[int, ...] = ()  # empty: any 2xx
    body_must_match: tuple[str, ...] = ()
    body_must_not_match: tuple[str, ...] = ()
    extract: Mapping[str, str] = field(default_factory=dict)
    follow_redirects: bool = True
    max_redirects: int = 10

    def __post_init__(self) -> None:
        if not _LABEL.fullmatch(self.name):
            raise Invalid(f"expected a step name of letters, digits, '_', '.' or '-', "
                          f"got {self.name!r}", key="name")
        _check_url(self.url)
        if self.method is not None and not _TOKEN.fullmatch(self.method):
            raise Invalid(f"expected an HTTP method like 'GET', got {self.method!r}", key="method")
        for header, value in self.headers.items():
            if not _TOKEN.fullmatch(header) or "\r" in value or "\n" in value:
                raise Invalid(f"bad header {header!r}: names are tokens, values one line",
                              key="headers")
        if (self.form or self.form_files) and self.body:
            raise Invalid("give either 'form'/'form_files' or 'body', not both", key="body")
        both = set(self.form) & set(self.form_files)
        if both:
            raise Invalid(f"field {sorted(both)[0]!r} is in both 'form' and 'form_files'",
                          key="form_files")
        _check_status_codes(self.valid_status_codes)
        _check_regexes("body_must_match", self.body_must_match)
        _check_regexes("body_must_not_match", self.body_must_not_match)
        for var, pattern in self.extract.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
                raise Invalid(f"expected a variable name like 'csrf', got {var!r}", key="extract")
            _check_regexes(f"extract.{var}", (pattern,))
        if not 0 <= self.max_redirects <= 100:
            raise Invalid("expected 0..100", key="max_redirects")

    @property
    def effective_method(self) -> str:
        """The method: as configured, else POST with a form or body, else GET."""
        if self.method:
            return self.method
        return "POST" if self.form or self.form_files or self.body else "GET"

    def uses(self) -> set[str]:
        """The variables this step's request uses."""
        texts = [self.url, self.body, *self.headers.values(), *self.form.values()]
        return set().union(*(variables_in(t) for t in texts))


@dataclass(frozen=True)
class ScenarioTarget:
    """``kind: scenario``: ordered HTTP steps sharing a cookie jar; stops at the first failure."""

    name: str
    steps: tuple[ScenarioStep, ...]
    kind: Literal["scenario"] = "scenario"
    timeout: Duration = DEFAULT_SCENARIO_TIMEOUT
    headers: Mapping[str, str] = field(default_factory=dict)  # sent by every step
    body_size_limit: ByteSize = DEFAULT_BODY_SIZE_LIMIT
    ca_file: ExistingFile | None = None
    insecure_skip_verify: bool = False

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        if not _LABEL.fullmatch(self.name):
            raise Invalid(f"expected a scenario name of letters, digits, '_', '.' or '-', "
                          f"got {self.name!r}", key="name")
        if not self.steps:
            raise Invalid("list at least one step, e.g. {name: home, url: 'https://portal/'}",
                          key="steps")
        if len(self.steps) > 20:
            raise Invalid(f"expected at most 20 steps, got {len(self.steps)}", key="steps")
        defined: set[str] = set()
        names: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.name in names:
                raise Invalid(f"duplicate step name {step.name!r}", key=f"steps[{i}].name")
            names.add(step.name)
            missing = sorted(step.uses() - defined)
            if missing:
                raise Invalid(f"variable {missing[0]!r} is not extracted by an earlier step "
                              f"(add it to an earlier step's 'extract')", key=f"steps[{i}]")
            defined |= set(step.extract)
        if self.body_size_limit <= 0:
            raise Invalid("must be greater than 0", key="body_size_limit")


@dataclass(frozen=True)
class OcspTarget:
    """``kind: ocsp``: ask a responder about one certificate; status, times and signature.

    The certificate is ``cert_file`` (its serial is read from it), or ``serial`` (hex like
    ``0x1a2b`` or decimal) when only the number is known; ``issuer_file`` is its issuing CA.
    ``url`` defaults to the certificate's AIA OCSP address.
    """

    name: str
    issuer_file: ExistingFile
    kind: Literal["ocsp"] = "ocsp"
    url: str | None = None
    cert_file: ExistingFile | None = None
    serial: str | None = None
    timeout: Duration = DEFAULT_TIMEOUT
    hash_algorithm: Literal["sha1", "sha256"] = "sha1"  # of the CertID, as most responders expect

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        if (self.cert_file is None) == (self.serial is None):
            raise Invalid("give either 'cert_file' or 'serial' (with 'issuer_file')",
                          key="cert_file")
        if self.serial is not None:
            try:
                parse_serial(self.serial)
            except ValueError:
                raise Invalid(f"expected a serial number like '0x1a2b' or '6699', "
                              f"got {self.serial!r}", key="serial") from None
        if self.url is not None:
            _check_url(self.url)
        elif self.cert_file is None:
            raise Invalid("a target given by serial needs the responder's 'url'", key="url")


def parse_serial(text: str) -> int:
    """``0x1A2B``, ``1a:2b`` or ``6699`` -> the integer; ValueError otherwise."""
    text = text.strip().lower()
    if text.startswith("0x"):
        return int(text[2:], 16)
    if ":" in text:
        return int(text.replace(":", ""), 16)
    return int(text, 10)


@dataclass(frozen=True)
class CrlTarget:
    """``kind: crl``: download a CRL (DER or PEM); freshness, size, time, and its signature."""

    name: str
    url: str
    kind: Literal["crl"] = "crl"
    timeout: Duration = DEFAULT_TIMEOUT
    issuer_file: ExistingFile | None = None  # verify the CRL's signature with this CA
    body_size_limit: ByteSize = DEFAULT_CRL_SIZE_LIMIT
    ca_file: ExistingFile | None = None
    insecure_skip_verify: bool = False

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_url(self.url)
        if self.body_size_limit <= 0:
            raise Invalid("must be greater than 0", key="body_size_limit")


@dataclass(frozen=True)
class ThroughputTarget:
    """``kind: throughput``: iperf3 download and upload once an hour, with latency under load."""

    name: str
    host: str
    kind: Literal["throughput"] = "throughput"
    timeout: Duration = DEFAULT_TIMEOUT  # of a collection; the run goes on in the background
    port: int = 5201
    duration: Duration = DEFAULT_TRANSFER  # of each direction's transfer
    directions: tuple[Literal["download", "upload"], ...] = ("download", "upload")
    streams: int = 4  # parallel TCP streams (iperf3 -P), as speed tests open
    daily_budget: ByteSize = DEFAULT_DAILY_BUDGET
    slot_second: int | None = None  # second of the hour to run at; default from the host name
    ping: Literal["icmp", "tcp"] = "icmp"
    ping_port: int = 22  # for ping: tcp (a refused connection still times the round trip)
    ping_interval: Duration = DEFAULT_PACKET_INTERVAL
    iperf3: str = "iperf3"  # the client binary (Debian's iperf3)

    def __post_init__(self) -> None:
        _check_common(self.name, self.timeout)
        _check_host(self.host)
        _check_port(self.port)
        _check_port(self.ping_port, "ping_port")
        if not 2 <= self.duration <= 60:
            raise Invalid("expected 2s..60s", key="duration")
        if not self.directions or len(set(self.directions)) != len(self.directions):
            raise Invalid("list download, upload or both, once each", key="directions")
        if not 1 <= self.streams <= 16:
            raise Invalid(f"expected 1..16 streams, got {self.streams}", key="streams")
        if self.slot_second is not None and not 0 <= self.slot_second <= 3599:
            raise Invalid(f"expected a second of the hour in 0..3599, got {self.slot_second}",
                          key="slot_second")
        if self.ping_interval < 0.05:
            raise Invalid("expected at least 50ms between pings", key="ping_interval")

    @property
    def run_timeout(self) -> float:
        """How long one direction's iperf3 may run before it is killed."""
        return float(self.duration) + 15


Target = (HttpTarget | TcpTarget | H323Target | IcmpTarget | DnsTarget | SipTarget | PathTarget
          | ScenarioTarget | OcspTarget | CrlTarget | ThroughputTarget)
