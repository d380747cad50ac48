"""What commune-agent, commune-collector and commune-diag share: exit codes, errors, one dispatch.

Every command is added the same way, ``add_command(sub, name, run, ...)``, and its
``run(args) -> Exit`` raises what it cannot do: ``UsageError`` (or a ``ConfigError``) for what
the user must change, ``Failure`` (or an ``OSError``) for what went wrong. ``dispatch`` runs the
command and is the one place where an error becomes one line on stderr and an exit code::

    $ commune-collector render --inventory nope.yml --out build
    commune-collector: nope.yml: file not found; check the path given on the command line
    $ echo $?
    2
"""

from __future__ import annotations

import argparse
import enum
import logging
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from common.schema import ConfigError
from common.units import Duration

__all__ = ["Exit", "Failure", "FlagError", "Run", "UsageError", "add_command",
           "add_log_level", "dispatch", "duration_flag", "flag_type", "flag_value", "start_logging",
           "url_flag"]

T = TypeVar("T")
_URL = re.compile(r"https?://[^/\s]+(/\S*)?")


class Exit(enum.IntEnum):
    """The exit codes of the three console scripts."""

    OK = 0              # done (commune-diag: every check passed on every host)
    FAILURE = 1         # the work failed: I/O, a peer (commune-diag: some check failed)
    USAGE = 2           # a command line, request, config or runbook the user must change
    UNREACHABLE = 3     # commune-diag: some host unreachable, or not diagnosed in time
    INTERRUPTED = 130   # Ctrl-C


class UsageError(Exception):
    """A command line or request the user must change; the message says how. Exit 2."""


class FlagError(UsageError):
    """A flag's value the user must change: ``FLAG: what was expected, got VALUE``."""

    def __init__(self, flag: str, problem: str) -> None:
        super().__init__(f"{flag}: {problem}")
        self.flag = flag
        self.problem = problem


class Failure(Exception):
    """Work the command could not do: a peer that does not answer, a file not written. Exit 1."""


Run = Callable[[argparse.Namespace], Exit]


def add_command(sub: Any, name: str, run: Run, **kwargs: Any) -> argparse.ArgumentParser:
    """Add subcommand ``name`` to ``sub`` (``add_subparsers()``); ``run`` does its work."""
    parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    parser.set_defaults(run=run, prog=parser.prog)
    return parser


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """Add ``--log.level`` (debug, info, warn, error; default info), as Prometheus has it."""
    parser.add_argument("--log.level", dest="log_level", default="info",
                        choices=("debug", "info", "warn", "error"))


def start_logging(level: str) -> None:
    """Log to stderr from ``level`` (a ``--log.level`` value) up, each line timed and named."""
    logging.basicConfig(level=level.upper().replace("WARN", "WARNING"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def flag_value(parse: Callable[[str], T], flag: str, text: str) -> T:
    """``parse(text)``, its ValueError as a FlagError naming ``flag``."""
    try:
        return parse(text)
    except ValueError as exc:
        raise FlagError(flag, str(exc)) from None


def duration_flag(flag: str, text: str, *, above_zero: bool = False) -> Duration:
    """The duration ``flag`` was given (``30s``); a FlagError when it is none, or 0 and
    ``above_zero``."""
    value = flag_value(Duration.parse, flag, text)
    if above_zero and value <= 0:
        raise FlagError(flag, f"expected a duration above 0, got {text!r}")
    return value


def url_flag(flag: str, text: str) -> str:
    """The http(s) URL ``flag`` was given, without a trailing slash; a FlagError if it is none."""
    if not _URL.fullmatch(text):
        raise FlagError(flag, f"expected a URL like 'http://127.0.0.1:9090', got {text!r}")
    return text.rstrip("/")


def flag_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argparse ``type=``: its ValueError is argparse's error for the flag
    (``argument FLAG: MESSAGE``, exit 2)."""
    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, *,
             name_command: bool = False) -> Exit:
    """Run the command ``args`` chose; the help and Exit.USAGE if none was given.

    Errors are one line: ``PROG: message``, where PROG is the command's (``commune-collector
    render``) with ``name_command``, else the program's. A ConfigError, which names its file,
    always starts with the program's.
    """
    run: Run | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return Exit.USAGE
    prog = parser.prog
    where = getattr(args, "prog", prog) if name_command else prog
    try:
        return Exit(run(args))
    except ConfigError as exc:
        return _report(prog, exc, Exit.USAGE)
    except UsageError as exc:
        return _report(where, exc, Exit.USAGE)
    except (Failure, OSError) as exc:
        return _report(where, exc, Exit.FAILURE)
    except KeyboardInterrupt:
        return _report(prog, "interrupted", Exit.INTERRUPTED)


def _report(prog: str, error: BaseException | str, code: Exit) -> Exit:
    print(f"{prog}: {error}", file=sys.stderr)
    return code
