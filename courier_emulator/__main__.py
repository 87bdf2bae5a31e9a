"""``python -m courier_emulator``: serve the Courier API emulator until SIGTERM or SIGINT.

The first stdout line is the base URL (e.g. ``http://127.0.0.1:54321``), flushed, so a parent process can
read it and then talk to the emulator. Only loopback hosts are accepted. SIGTERM or SIGINT exit 0.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType

from courier_emulator import DEMO_API_KEY
from courier_emulator.data import DEFAULT_ANCHOR_MS, DEFAULT_MESSAGES, DEFAULT_SPACING_MS
from courier_emulator.server import make_server, resolve_loopback_host


class _Stop(Exception):
    """Raised by the signal handler to leave serve_forever() in the main thread."""


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m courier_emulator",
        description="Local stand-in for Courier's REST API (GET /messages). Prints its base URL first.",
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
    return parser


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        server = make_server(
            api_key=args.api_key,
            messages=args.messages,
            anchor_ms=args.anchor_ms,
            spacing_ms=args.spacing_ms,
            host=args.host,
            port=args.port,
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
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
