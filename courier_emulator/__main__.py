"""``python -m courier_emulator``: serve the Courier API emulator until SIGTERM or SIGINT.

The first stdout line is the base URL (e.g. ``http://127.0.0.1:54321``), flushed, so a parent process can
read it and then talk to the emulator. Only loopback hosts are accepted. SIGTERM or SIGINT exit 0.

Flags: the log (``--messages``, ``--anchor-ms``, ``--spacing-ms``, ``--status-window-ms``), the other objects
(``--workspace {none,small,demo,bench}``, default ``small``: ``courier_emulator.workspace`` is imported only then,
and a failed import exits 1 with a message naming ``--workspace none``), and the fault plan (``--fault
KIND[:RATE[:PATH_PREFIX]]``, repeatable, rate 1 by default; ``--max-faults-in-a-row``, ``--latency-ms``,
``--fault-seed``, ``--retry-after``, ``--slow-seconds``; see ``courier_emulator.faults``), and the readings, where
Courier's docs and the live API disagree (``--auth-failure-status {401,403}``, ``--messages-limit
{ignored,honoured}``, ``--ignore-enqueued-after``; see ``courier_emulator.readings``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

from courier_emulator import DEMO_API_KEY
from courier_emulator.data import DEFAULT_ANCHOR_MS, DEFAULT_MESSAGES, DEFAULT_SPACING_MS, DEFAULT_STATUS_WINDOW_MS
from courier_emulator.faults import (
    DEFAULT_MAX_IN_A_ROW,
    DEFAULT_RETRY_AFTER,
    DEFAULT_SLOW_SECONDS,
    FAULT_KINDS,
    Fault,
    FaultPlan,
)
from courier_emulator.readings import AUTH_FAILURES, DEFAULT_AUTH_FAILURE_STATUS
from courier_emulator.server import (
    WORKSPACE_SIZES,
    WorkspaceUnavailable,
    load_workspace,
    make_server,
    resolve_loopback_host,
)


class _Stop(BaseException):
    """Raised by the signal handler to leave serve_forever() in the main thread.

    A BaseException, not an Exception: a signal that lands while the main thread starts a request's thread
    would otherwise be swallowed by socketserver's per-request ``except Exception`` and the process would
    never stop."""


def _loopback_host(value: str) -> str:
    try:
        resolve_loopback_host(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _int_in_range(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {number}")
        return number

    return parse


def _fault(value: str) -> Fault:
    try:
        return Fault.parse(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m courier_emulator",
        description="Local stand-in for Courier's REST API (messages and, with --workspace, the other objects). "
        "Prints its base URL first.",
    )
    parser.add_argument(
        "--host", type=_loopback_host, default="127.0.0.1", help="127.0.0.1 (default), ::1 or localhost"
    )
    parser.add_argument("--port", type=_int_in_range(0, 65535), default=0, help="0 (default) picks a free port")
    parser.add_argument(
        "--api-key",
        default=DEMO_API_KEY,
        help=f"Bearer key clients must send (default: the demo key {DEMO_API_KEY!r})",
    )
    parser.add_argument("--messages", type=_int_in_range(0), default=DEFAULT_MESSAGES, help="log size (default 25)")
    parser.add_argument(
        "--anchor-ms",
        type=_int_in_range(0),
        default=DEFAULT_ANCHOR_MS,
        help="enqueued of the newest message (epoch ms)",
    )
    parser.add_argument(
        "--spacing-ms",
        type=_int_in_range(1),
        default=DEFAULT_SPACING_MS,
        help="ms between consecutive messages",
    )
    parser.add_argument(
        "--status-window-ms",
        type=_int_in_range(0),
        default=DEFAULT_STATUS_WINDOW_MS,
        help="an advance moves the statuses of messages enqueued this long before the newest (default 1 day)",
    )
    parser.add_argument(
        "--workspace",
        choices=WORKSPACE_SIZES,
        default="small",
        help="other objects (brands, lists, tenants, ...): none, small (default) or demo",
    )
    faults = parser.add_argument_group("faults", "injected into every non-admin request (see courier_emulator.faults)")
    faults.add_argument(
        "--fault",
        dest="faults",
        action="append",
        type=_fault,
        default=[],
        metavar="KIND[:RATE[:PATH_PREFIX]]",
        help=f"repeatable; rate 0..1 (default 1); kinds: {', '.join(FAULT_KINDS)}",
    )
    faults.add_argument(
        "--max-faults-in-a-row",
        type=_int_in_range(1),
        default=DEFAULT_MAX_IN_A_ROW,
        help="after this many consecutive faults on one URL, the next request to it is served normally (default 2)",
    )
    faults.add_argument("--latency-ms", type=_int_in_range(0), default=0, help="delay of every request (default 0)")
    faults.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws (default 0)")
    faults.add_argument(
        "--retry-after",
        type=_int_in_range(0),
        default=DEFAULT_RETRY_AFTER,
        help="seconds announced by the 429-seconds and 429-http-date faults (default 1)",
    )
    faults.add_argument(
        "--retry-after-on-errors",
        action="store_true",
        help="also announce --retry-after on 5xx, HTML and bad-body faults, so a fault without end fails fast",
    )
    faults.add_argument(
        "--slow-seconds",
        type=_seconds,
        default=DEFAULT_SLOW_SECONDS,
        help="how long the slow fault waits before answering (default 65)",
    )
    readings = parser.add_argument_group(
        "readings",
        "where Courier's docs/SDK and the live API disagree (reference section H), which one to serve "
        "(see courier_emulator.readings)",
    )
    readings.add_argument(
        "--auth-failure-status",
        type=int,
        choices=sorted(AUTH_FAILURES),
        default=DEFAULT_AUTH_FAILURE_STATUS,
        help="the answer to a missing or wrong key: 403 authorization_error 'Invalid or missing authentication "
        "credentials' (default, the live API's) or 401 authentication_error 'Unauthorized' (the SDK's and docs')",
    )
    readings.add_argument(
        "--messages-limit",
        choices=("ignored", "honoured"),
        default="ignored",
        help="limit on /messages: ignored (default: 10 a page whatever it says, as Courier documents) or honoured "
        "(1 to 100 a page, else a 400)",
    )
    readings.add_argument(
        "--ignore-enqueued-after",
        action="store_true",
        help="/messages records enqueued_after but does not filter by it (default: applied, as documented)",
    )
    return parser


def reading_options(args: argparse.Namespace) -> dict[str, Any]:
    """The readings the parsed flags describe, as ``make_server`` keywords."""
    return {
        "auth_failure_status": args.auth_failure_status,
        "honour_messages_limit": args.messages_limit == "honoured",
        "apply_enqueued_after": not args.ignore_enqueued_after,
    }


def fault_plan(args: argparse.Namespace) -> FaultPlan:
    """The ``FaultPlan`` the parsed flags describe; ``ValueError`` if the rates overlap beyond 1."""
    return FaultPlan(
        args.faults,
        max_in_a_row=args.max_faults_in_a_row,
        seed=args.fault_seed,
        latency_ms=args.latency_ms,
        retry_after=args.retry_after,
        slow_seconds=args.slow_seconds,
        retry_after_on_errors=args.retry_after_on_errors,
    )


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        plan = fault_plan(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        workspace = load_workspace(args.workspace)
    except WorkspaceUnavailable as exc:
        parser.exit(1, f"courier_emulator: {exc}\n")
    try:
        server = make_server(
            api_key=args.api_key,
            messages=args.messages,
            anchor_ms=args.anchor_ms,
            spacing_ms=args.spacing_ms,
            status_window_ms=args.status_window_ms,
            host=args.host,
            port=args.port,
            workspace=workspace,
            faults=plan,
            **reading_options(args),
        )
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.exit(1, f"courier_emulator: cannot listen on {args.host}:{args.port}: {exc}\n")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    try:
        sys.stdout.write(f"{server.base_url}\n")
        sys.stdout.flush()
        server.serve_forever()
    except _Stop:
        pass
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not interrupt the clean-up
        server.stopping.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
