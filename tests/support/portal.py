"""A stand-in TTHC portal and its single sign-on host, on two loopback addresses.

The portal (``127.0.0.1``) serves a login form with a CSRF token bound to a session cookie; a
good login redirects to the SSO host (``127.0.0.2``, an OAuth2-style ``/authorize``), which sets
its own cookie and redirects back to ``/callback`` with a code; the portal then sets its auth
cookie and shows the dashboard. ``/search`` is slow (``search_delay``) and links a dossier,
``/dossier/ID`` needs the auth cookie. Run alone (for benchmarks) as
``python -m tests.support.portal PORTAL_PORT SSO_PORT``.
"""

from __future__ import annotations

import contextlib
import http.server
import secrets
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from tests.support.peers import free_port

PORTAL_HOST, SSO_HOST = "127.0.0.1", "127.0.0.2"
USER, PASSWORD = "canbo.xa", "Mật-khẩu s3cret&=?"
DOSSIER = "000.00.16.H56-260101-0042"


@dataclass
class PortalState:
    """What the portal and the SSO host know, and what they saw (for the tests)."""

    portal_port: int
    sso_port: int
    search_delay: float = 0.3
    rotate_token: bool = False  # the CSRF token changes after each page: the posted one is stale
    sessions: dict[str, str] = field(default_factory=dict)  # session -> csrf token
    states: dict[str, str] = field(default_factory=dict)  # oauth state -> session
    codes: set[str] = field(default_factory=set)
    authed: set[str] = field(default_factory=set)
    sso_cookies_seen: list[str] = field(default_factory=list)
    authorization_seen: list[tuple[str, str]] = field(default_factory=list)  # (host, header)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def portal(self) -> str:
        return f"http://{PORTAL_HOST}:{self.portal_port}"

    @property
    def sso(self) -> str:
        return f"http://{SSO_HOST}:{self.sso_port}"


class _Base(http.server.BaseHTTPRequestHandler):
    state: PortalState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie(self.headers.get("Cookie", ""))
        return {k: v.value for k, v in jar.items()}

    def send(self, status: int, body: str = "", headers: list[tuple[str, str]] | None = None
             ) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in headers or []:
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client timed out
            self.wfile.write(data)
        self.close_connection = True

    def form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length", "0"))
        pairs = urllib.parse.parse_qsl(self.rfile.read(length).decode("ascii"))
        return dict(pairs)


class PortalHandler(_Base):
    """The TTHC portal."""

    def _login_page(self, session: str | None, error: str = "") -> None:
        s = self.state
        headers = []
        with s.lock:
            if session is None or session not in s.sessions:
                session = secrets.token_hex(8)
                headers.append(("Set-Cookie", f"PORTALSESSID={session}; Path=/; HttpOnly"))
            if not s.sessions.get(session):
                s.sessions[session] = secrets.token_hex(12)
            token = s.sessions[session]
            if s.rotate_token:  # the server moves on: the token on this page is already stale
                s.sessions[session] = secrets.token_hex(12)
        self.send(200, f"<html><h1>Cổng dịch vụ công</h1>\n{error}<form method=post "
                       f'action=/login><input type="hidden" name="csrf" value="{token}">'
                       f"<input name=username><input name=password type=password></form>",
                  headers)

    def do_GET(self) -> None:
        s, parts = self.state, urllib.parse.urlsplit(self.path)
        s.authorization_seen.append((PORTAL_HOST, self.headers.get("Authorization", "")))
        cookies = self.cookies()
        session = cookies.get("PORTALSESSID")
        authed = cookies.get("PORTALAUTH") in s.authed
        query = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path == "/":
            self._login_page(session)
        elif parts.path == "/callback":
            with s.lock:
                ok = (query.get("code") in s.codes and session is not None
                      and s.states.pop(query.get("state", ""), None) == session)
                s.codes.discard(query.get("code", ""))
                auth = secrets.token_hex(8)
                if ok:
                    s.authed.add(auth)
            if not ok:
                self.send(400, "bad OAuth2 callback")
                return
            self.send(302, "", [("Location", "/dashboard"),
                                ("Set-Cookie", f"PORTALAUTH={auth}; Path=/; HttpOnly")])
        elif not authed:
            self.send(302, "", [("Location", "/")])
        elif parts.path == "/dashboard":
            self.send(200, f"<p>Xin chào {USER}</p><a href=/logout>Đăng xuất</a>")
        elif parts.path == "/search":
            time.sleep(s.search_delay)
            self.send(200, f'<table><tr><td><a href="/dossier/{DOSSIER}">Hồ sơ {DOSSIER}</a>'
                           f"</td></tr></table>")
        elif parts.path.startswith("/dossier/"):
            number = urllib.parse.unquote(parts.path.removeprefix("/dossier/"))
            status = 200 if number == DOSSIER else 404
            self.send(status, f"<h2>Hồ sơ {number}</h2><p>Trạng thái: Đang xử lý</p>")
        elif parts.path == "/logout":
            with s.lock:
                s.authed.discard(cookies.get("PORTALAUTH", ""))
            self.send(302, "", [("Location", "/"),
                                ("Set-Cookie", "PORTALAUTH=; Path=/; Max-Age=0")])
        else:
            self.send(404, "not found")

    def do_POST(self) -> None:
        s = self.state
        if self.path != "/login":
            self.send(404, "not found")
            return
        form = self.form()
        session = self.cookies().get("PORTALSESSID")
        with s.lock:
            token = s.sessions.get(session or "")
        if not token or form.get("csrf") != token:
            self.send(403, "<p>Phiên làm việc đã hết hạn (CSRF token mismatch)</p>")
            return
        if (form.get("username"), form.get("password")) != (USER, PASSWORD):
            self._login_page(session, "<p class=error>Sai tên đăng nhập hoặc mật khẩu</p>")
            return
        state = secrets.token_hex(8)
        with s.lock:
            s.states[state] = session or ""
        query = urllib.parse.urlencode({"client_id": "tthc", "state": state,
                                        "redirect_uri": f"{s.portal}/callback"})
        self.send(302, "", [("Location", f"{s.sso}/authorize?{query}")])


class SsoHandler(_Base):
    """The single sign-on host: ``/authorize`` sets its cookie and redirects back with a code."""

    def do_GET(self) -> None:
        s, parts = self.state, urllib.parse.urlsplit(self.path)
        s.sso_cookies_seen.append(self.headers.get("Cookie", ""))
        s.authorization_seen.append((SSO_HOST, self.headers.get("Authorization", "")))
        s.authorization_seen.append((SSO_HOST, self.headers.get("Proxy-Authorization", "")))
        if parts.path != "/authorize":
            self.send(404, "not found")
            return
        query = dict(urllib.parse.parse_qsl(parts.query))
        code = secrets.token_hex(10)
        with s.lock:
            s.codes.add(code)
        back = query["redirect_uri"] + "?" + urllib.parse.urlencode(
            {"code": code, "state": query["state"]})
        self.send(302, "", [("Location", back),
                            ("Set-Cookie", f"VNEIDSSO={secrets.token_hex(6)}; Path=/; HttpOnly")])


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128  # concurrent probes must not meet a full SYN queue (1 s retries)


def _server(host: str, port: int, handler: type[_Base], state: PortalState
            ) -> http.server.ThreadingHTTPServer:
    bound = type(handler.__name__, (handler,), {"state": state})
    server = _Server((host, port), bound)
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def portal(search_delay: float = 0.3) -> Iterator[PortalState]:
    """Serve the portal and the SSO host in threads, each on a free port."""
    state = PortalState(free_port(PORTAL_HOST), free_port(SSO_HOST), search_delay)
    servers = [_server(PORTAL_HOST, state.portal_port, PortalHandler, state),
               _server(SSO_HOST, state.sso_port, SsoHandler, state)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        yield state
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def scenario_yaml(state: PortalState, password_file: str, name: str = "tthc-dossier",
                  timeout: str = "10s") -> str:
    """A ``probe`` config with the five-step scenario through the stand-in portal."""
    return f"""
        targets:
          - name: {name}
            kind: scenario
            timeout: {timeout}
            steps:
              - name: home
                url: "{state.portal}/"
                body_must_match: ["Cổng dịch vụ công"]
                extract: {{csrf: 'name="csrf" value="([0-9a-f]+)"'}}
              - name: login
                url: "{state.portal}/login"
                form: {{username: "{USER}", csrf: "${{csrf}}"}}
                form_files: {{password: "{password_file}"}}
                body_must_match: ["Đăng xuất"]
              - name: search
                url: "{state.portal}/search?q=H56-260101"
                extract: {{dossier: 'href="/dossier/([^"]+)"'}}
              - name: open
                url: "{state.portal}/dossier/${{dossier}}"
                body_must_match: ["Đang xử lý"]
              - name: logout
                url: "{state.portal}/logout"
                body_must_match: ["Cổng dịch vụ công"]
    """


def main(argv: list[str]) -> None:
    """Serve until killed (``search_delay`` 0): ``portal.py PORTAL_PORT SSO_PORT``."""
    state = PortalState(int(argv[0]), int(argv[1]), search_delay=0.0)
    servers = [_server(PORTAL_HOST, state.portal_port, PortalHandler, state),
               _server(SSO_HOST, state.sso_port, SsoHandler, state)]
    threading.Thread(target=servers[1].serve_forever, daemon=True).start()
    print("ready", flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
