"""Real peers for the tests: free loopback ports, processes started and always cleaned up."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.peer_marker import require_peer

LOOPBACK = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_udp_port(host: str = LOOPBACK) -> int:
    """A UDP port free on ``host`` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve in a thread (any socketserver: HTTP, TCP); shut down and close on exit."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


#: The Content-Type of Prometheus' text exposition.
EXPOSITION = "text/plain; version=0.0.4"


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler of the tests' own HTTP peers: logs nothing, answers whole bodies."""

    def send_body(self, body: bytes, content_type: str, status: int = 200) -> None:
        """Answer ``status`` with ``body`` of ``content_type``."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def answering_json(body: Any) -> ThreadingHTTPServer:
    """A server on loopback answering every GET with ``body`` as JSON (serve it with
    :func:`serving`): an odd or wrong source for the clients under test."""
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_body(json.dumps(body).encode(), "application/json")

    return ThreadingHTTPServer((LOOPBACK, 0), Handler)


def require_binary(name: str) -> str:
    """The path of a peer binary installed by scripts/install-peers.sh; fail loudly if absent,
    or if the running test is not marked ``peer``."""
    require_peer(name)
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None)
    if path is None:
        pytest.fail(f"{name} is not installed; run scripts/install-peers.sh (make peers)")
    return path


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the peer may not be listening yet
            last_exc = exc
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last_exc})")


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None,
             context: Any = None) -> tuple[int, bytes, dict[str, str]]:
    """GET ``url``; return (status, body, headers) also for 4xx/5xx answers."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


P = TypeVar("P", bound="Process")


class Process:
    """A peer process whose output goes to a log file; stopped (then killed) on close."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=cwd,
                                     start_new_session=True)

    def log(self) -> str:
        """What the process printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the process group, wait, kill if needed; return the exit code."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

    def __enter__(self: P) -> P:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Prometheus(Process):
    """A real Prometheus (Debian's package) on a free loopback port."""

    def __init__(self, config: str, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        config_path = workdir / "prometheus.yml"
        config_path.write_text(config)
        (workdir / "data").mkdir(exist_ok=True)
        super().__init__(
            [require_binary("prometheus"), f"--config.file={config_path}",
             f"--web.listen-address={LOOPBACK}:{self.port}",
             f"--storage.tsdb.path={workdir / 'data'}", "--web.enable-lifecycle",
             *extra_args],
            workdir / "prometheus.log")
        wait_for(lambda: http_get(f"{self.url}/-/ready")[0] == 200, 30,
                 what=f"prometheus ready ({self.log_path})")

    def query(self, expr: str, time_: float | None = None) -> list[dict[str, Any]]:
        """Run an instant query; return the result vector."""
        params = {"query": expr}
        if time_ is not None:
            params["time"] = str(time_)
        status, body, _ = http_get(f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}")
        data = json.loads(body)
        if status != 200 or data.get("status") != "success":
            raise AssertionError(f"query {expr!r} failed: {status} {body[:300]!r}")
        result: list[dict[str, Any]] = data["data"]["result"]
        return result
