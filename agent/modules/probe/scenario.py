"""The ``scenario`` probe: a user's path through a portal, as ordered HTTP steps.

Steps share a cookie jar; a step's ``extract`` takes a value from its page (a CSRF token, a
dossier id) for the ``${name}`` of later steps; ``form_files`` read credentials from files at
each run. Each step follows its own redirects (an OAuth2 authorize hop to the SSO host and back)
and times every hop. The run stops at the first failing step, which the failure reason names
(``login:status``). Messages show URLs without their query (an OAuth ``code`` stays out of the
log) and never a form value, a cookie or an extracted value.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from agent.modules.probe.cookies import CookieJar
from agent.modules.probe.http import (
    REDIRECT_CODES,
    HttpClient,
    Phases,
    Response,
    becomes_get,
    body_mismatch,
    check_status,
    redirected,
)
from agent.modules.probe.result import (
    SCENARIO_HOP_DURATION,
    SCENARIO_STEP_DURATION,
    SCENARIO_STEP_STATUS,
    SCENARIO_STEP_SUCCESS,
    SCENARIO_SUCCESS,
    ProbeFailed,
    ProbeResult,
)
from agent.modules.probe.targets import VARIABLE, ScenarioStep, ScenarioTarget

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})  # same host only
FORM_TYPE = "application/x-www-form-urlencoded"
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # RFC 3986 reserved characters, and existing escapes


def shown(url: str) -> str:
    """``url`` without its query and fragment, for messages: queries may carry codes and tokens."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path,
                                    "", ""))


def fill(text: str, variables: dict[str, str], quote: bool = False) -> str:
    """Replace each ``${name}``; URL-quote the values when ``quote``."""
    if "${" not in text:
        return text
    return VARIABLE.sub(lambda m: urllib.parse.quote(variables[m.group(1)], safe="")
                         if quote else variables[m.group(1)], text)


@dataclass(frozen=True)
class _Step:
    """A step with its regexes compiled once."""

    config: ScenarioStep
    must: tuple[re.Pattern[str], ...]
    must_not: tuple[re.Pattern[str], ...]
    extract: tuple[tuple[str, re.Pattern[str]], ...]

    @classmethod
    def of(cls, step: ScenarioStep) -> _Step:
        return cls(step, tuple(map(re.compile, step.body_must_match)),
                   tuple(map(re.compile, step.body_must_not_match)),
                   tuple((var, re.compile(p)) for var, p in step.extract.items()))


class ScenarioProbe:
    """Runs one ``scenario`` target's steps in order."""

    def __init__(self, target: ScenarioTarget) -> None:
        self.target = target
        self.client = HttpClient.of(target)
        self.steps = [_Step.of(step) for step in target.steps]

    async def probe(self, result: ProbeResult) -> None:
        """Run every step; raise ProbeFailed at the first that fails, ``result.step`` naming it."""
        jar = CookieJar()
        variables: dict[str, str] = {}
        result.add(SCENARIO_SUCCESS, 0.0)
        for step in self.steps:
            name = step.config.name
            result.step = name
            start = time.perf_counter()
            passed = False
            try:
                await self._run(step, jar, variables, result)
                passed = True
            except ProbeFailed as exc:
                raise ProbeFailed(exc.reason, f"step {name}: {exc}") from None
            finally:  # also when the scenario's timeout cancels the step
                result.add(SCENARIO_STEP_DURATION, time.perf_counter() - start, name)
                result.add(SCENARIO_STEP_SUCCESS, 1.0 if passed else 0.0, name)
        result.step = None
        result.add(SCENARIO_SUCCESS, 1.0)

    async def _run(self, step: _Step, jar: CookieJar, variables: dict[str, str],
                   result: ProbeResult) -> None:
        config = step.config
        url = fill(config.url, variables, quote=True)
        method = config.effective_method
        headers = {k: fill(v, variables) for k, v in self.target.headers.items()}
        headers.update((k, fill(v, variables)) for k, v in config.headers.items())
        for key, value in headers.items():
            if _CONTROL.search(value):  # an extracted value must not add header lines
                raise ProbeFailed("content", f"header {key}: an extracted value holds a line "
                                             f"break or control character")
            if not value.isascii():  # header bytes are Latin-1; say so rather than crash
                raise ProbeFailed("content", f"header {key}: non-ASCII value (URL-encode it)")
        body = self._body(config, variables, headers)
        first_host = urllib.parse.urlsplit(url).hostname
        hop = 0
        while True:
            sent = headers if urllib.parse.urlsplit(url).hostname == first_host else {
                k: v for k, v in headers.items() if k.lower() not in _CREDENTIALS}
            response = await self._hop(url, method, body, sent, jar, result, config.name, hop)
            location = response.headers.get("location")
            if not (config.follow_redirects and response.status in REDIRECT_CODES and location):
                break
            hop += 1
            if becomes_get(response.status, method):
                headers.pop("Content-Type", None)
            url, method, body = redirected(url, method, body, response.status, location, hop,
                                           config.max_redirects, shown)
        result.add(SCENARIO_STEP_STATUS, response.status, config.name)
        self._check(step, response, url, variables)

    def _body(self, config: ScenarioStep, variables: dict[str, str],
              headers: dict[str, str]) -> bytes:
        if not (config.form or config.form_files):
            return fill(config.body, variables).encode()
        fields = [(k, fill(v, variables)) for k, v in config.form.items()]
        for key, path in config.form_files.items():
            try:
                lines = Path(path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                # The path, never the content.
                raise ProbeFailed("auth", f"cannot read form_files.{key} ({path}): "
                                          f"{type(exc).__name__}") from None
            fields.append((key, lines[0] if lines else ""))
        headers.setdefault("Content-Type", FORM_TYPE)
        return urllib.parse.urlencode(fields).encode("ascii")

    async def _hop(self, url: str, method: str, body: bytes, headers: dict[str, str],
                   jar: CookieJar, result: ProbeResult, step: str, hop: int) -> Response:
        # A path like /tìm-kiếm (config or a Location header) goes on the wire percent-encoded.
        url = urllib.parse.quote(url, safe=_URL_SAFE)
        sent = dict(headers)
        cookie = jar.header(url)
        if cookie:
            sent["Cookie"] = cookie
        parts = urllib.parse.urlsplit(url)
        host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        start = time.perf_counter()
        try:
            response = await self.client.request(url, method, body, sent, Phases())
        finally:
            result.add(SCENARIO_HOP_DURATION, time.perf_counter() - start, step, str(hop), host)
        jar.store(url, response.set_cookies)
        return response

    def _check(self, step: _Step, response: Response, url: str,
               variables: dict[str, str]) -> None:
        config = step.config
        check_status(response.status, config.valid_status_codes, shown(url))
        if not (step.must or step.must_not or step.extract):
            return
        text = response.text()
        mismatch = body_mismatch(text, step.must, step.must_not)
        if mismatch is not None:
            raise ProbeFailed("content", f"body of {shown(url)} {mismatch}")
        for var, pattern in step.extract:
            match = pattern.search(text)
            if match is None:
                raise ProbeFailed("content", f"extract {var!r}: no match in the body of "
                                             f"{shown(url)}")
            variables[var] = match.group(1) if pattern.groups else match.group(0)
