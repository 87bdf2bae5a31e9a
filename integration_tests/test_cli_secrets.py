"""The API key (raw, or padded as pasted) never leaves the installed CLI: not in stdout or stderr, not with
`--debug`, not in a logged URL, not over a redirect to another host, and not over plain http to another machine.

Every run goes through `cli_runner.cli`, so the session-end scan in `conftest.py` checks its output once more.
An https -> http downgrade redirect is not tested: it needs a TLS server, and offline tests have no certificate
a client would trust. requests strips Authorization on it anyway (the scheme changes), as on any change of host
or port.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from courier_emulator.data import MessageLog
from courier_emulator.server import RunningEmulator, run_in_thread
from courier_emulator.workspace import PROVIDER_SECRET_MARKER
from integration_tests import cli_runner
from integration_tests.cli_runner import (
    API_KEY,
    CATALOG,
    EMULATOR_REFUSAL,
    WRONG_KEY,
    cli,
    error_traces,
    final_state,
    key_forms,
    logs,
    of_type,
    record_ids,
    refused_key,
)
from unit_tests.builders import unresolvable

LOG = MessageLog(2)  # the two messages a stand-in server serves, newest first
UNAUTHORIZED = {"message": "Unauthorized", "type": "authentication_error"}
URL = re.compile(r"https?://[^\s\"'\\]+")
NO_PROXY_ENV = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
WITH_KEY = "Bearer <API_KEY>"  # what a stand-in server records for the right key; the key itself is never kept


def assert_no_key_in(text: str) -> None:
    for key in (API_KEY, WRONG_KEY):
        assert not any(form in text for form in key_forms(key))
    assert not any(API_KEY in url or WRONG_KEY in url for url in URL.findall(text))


def assert_rejected_key(messages: list[dict], couriers_message: str) -> None:
    """The stream's trace quoting Courier's refusal, then the trace ending the read: the same message, the CDK's
    summary of the failed sync kept as its internal message, both config errors."""
    stream_error, summary = error_traces(messages)
    assert (stream_error["failure_type"], summary["failure_type"]) == ("config_error", "config_error")
    assert stream_error["message"] == summary["message"] == refused_key(couriers_message)
    assert summary["internal_message"].startswith(
        "During the sync, the following streams did not sync successfully: messages:"
    )


def last_output() -> str:
    """The stdout and stderr of the last CLI run."""
    return cli_runner.OUTPUTS[-2] + cli_runner.OUTPUTS[-1]


# --- a stand-in server that records what it receives --------------------------------------------------------------


class Received(NamedTuple):
    host: str | None  # the Host header
    path: str
    authorization: str | None  # WITH_KEY, "<another value>" or None


class Reply(NamedTuple):
    status: int
    body: Any = None
    location: str | None = None


def page(*indexes: int) -> Reply:
    return Reply(200, {"paging": {"cursor": None, "more": False}, "results": [LOG.message(i) for i in indexes]})


def redirect(status: int, location: str) -> Reply:
    return Reply(status, location=location)


class Site(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 that answers each path with its scripted replies (the last one repeats) and
    records every request. With `require_key` it answers 401 to a request without the right key, as Courier
    does. As a proxy it records the proxied URL's host (from the Host header) and path."""

    daemon_threads = True

    def __init__(self, require_key: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.require_key = require_key
        self.replies: dict[str, list[Reply]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server_address[1]}"

    def host(self, host: str = "127.0.0.1") -> str:
        return f"{host}:{self.server_address[1]}"

    def answer(self, path: str, *replies: Reply) -> Site:
        self.replies[path] = list(replies)
        return self

    def respond(self, received: Received) -> Reply:
        with self._lock:
            self.received.append(received)
            if self.require_key and received.authorization != WITH_KEY:
                return Reply(401, UNAUTHORIZED)
            replies = self.replies.get(received.path) or [Reply(404, {"message": "Not Found"})]
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    server: Site

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        authorization = self.headers.get("Authorization")
        if authorization is not None:
            authorization = WITH_KEY if authorization == f"Bearer {API_KEY}" else "<another value>"
        reply = self.server.respond(Received(self.headers.get("Host"), urlsplit(self.path).path, authorization))
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.location is not None:
            self.send_header("Location", reply.location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@dataclass
class Sites:
    started: list[Site] = field(default_factory=list)

    def __call__(self, require_key: bool = False) -> Site:
        site = Site(require_key)
        self.started.append(site)
        return site


@pytest.fixture
def sites() -> Iterator[Sites]:
    started = Sites()
    yield started
    for site in started.started:
        site.stop()


def read(tmp_path: Path, base_url: str, env: dict[str, str] | None = None) -> tuple[int, list[dict]]:
    config = cli_runner.config(base_url)
    return cli(tmp_path, "read", config, env=env or NO_PROXY_ENV, catalog=CATALOG.read_text())


# --- redirects -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("other", ["localhost", "127.0.0.1"], ids=["other-host-name", "same-host-other-port"])
def test_redirect_to_another_origin_drops_the_key_and_its_401_ends_as_config_error(tmp_path, sites, status, other):
    courier, elsewhere = sites(), sites(require_key=True)
    courier.answer("/messages", redirect(status, f"{elsewhere.url(other)}/messages"))

    code, messages = read(tmp_path, courier.url())

    assert courier.received == [Received(courier.host(), "/messages", WITH_KEY)]
    assert elsewhere.received == [Received(elsewhere.host(other), "/messages", None)]  # followed, without the key
    assert code != 0 and record_ids(messages) == []
    assert_rejected_key(messages, UNAUTHORIZED["message"])
    assert_no_key_in(last_output())


def test_redirect_to_another_host_that_serves_without_a_key_reads_its_records(tmp_path, sites):
    courier, elsewhere = sites(), sites().answer("/v2/messages", page(0, 1))
    courier.answer("/messages", redirect(302, f"{elsewhere.url('localhost')}/v2/messages"))

    code, messages = read(tmp_path, courier.url())

    assert code == 0
    assert record_ids(messages) == [LOG.message_id(0), LOG.message_id(1)]
    assert final_state(messages) == {"enqueued": str(LOG.enqueued(0))}
    assert elsewhere.received == [Received(elsewhere.host("localhost"), "/v2/messages", None)]
    assert_no_key_in(last_output())


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("absolute", [False, True], ids=["relative-location", "absolute-location"])
def test_redirect_within_the_same_origin_keeps_the_key(tmp_path, sites, status, absolute):
    courier = sites(require_key=True)
    courier.answer("/messages", redirect(status, f"{courier.url() if absolute else ''}/v2/messages"))
    courier.answer("/v2/messages", page(0, 1))

    code, messages = read(tmp_path, courier.url())

    assert code == 0
    assert record_ids(messages) == [LOG.message_id(0), LOG.message_id(1)]
    assert courier.received == [
        Received(courier.host(), "/messages", WITH_KEY),
        Received(courier.host(), "/v2/messages", WITH_KEY),
    ]
    assert_no_key_in(last_output())


def test_redirect_to_a_remote_http_host_is_followed_without_the_key(tmp_path, sites):
    # A proxy stands in for the remote host: requests sends it everything not bound for loopback, so what it
    # receives is exactly what http://courier.example.invalid would have received.
    courier, proxy = sites(), sites().answer("/messages", page(0, 1))
    courier.answer("/messages", redirect(302, "http://courier.example.invalid/messages"))
    env = {**NO_PROXY_ENV, "HTTP_PROXY": proxy.url(), "NO_PROXY": "127.0.0.1,localhost,::1"}

    code, messages = read(tmp_path, courier.url(), env)

    assert courier.received == [Received(courier.host(), "/messages", WITH_KEY)]
    assert proxy.received == [Received("courier.example.invalid", "/messages", None)]
    assert code == 0 and record_ids(messages) == [LOG.message_id(0), LOG.message_id(1)]
    assert_no_key_in(last_output())


def test_redirect_to_an_unresolvable_host_is_retried_from_the_start_without_leaking_the_key(
    tmp_path, sites, monkeypatch
):
    # No proxy: the name does not resolve (at once), the connection error is retried after the CDK's first backoff
    # (1 s), and the retry goes to the configured base_url again, which now serves the page. The CLI runs in this
    # process, where the lookup fails here without asking any resolver.
    refused = unresolvable(monkeypatch, "courier.example.invalid")
    courier = sites()
    courier.answer("/messages", redirect(302, "http://courier.example.invalid/messages"), page(0, 1))

    code, messages = read(tmp_path, courier.url())

    assert code == 0 and record_ids(messages) == [LOG.message_id(0), LOG.message_id(1)]
    assert courier.received == [Received(courier.host(), "/messages", WITH_KEY)] * 2
    assert refused == ["courier.example.invalid"]
    # The connection error retried names the host that could not be resolved (where the redirect led), not the key.
    (retried,) = [line for line in logs(messages) if "retrying" in line.lower()]
    assert retried.startswith(
        "Caught retryable error 'Could not connect to courier.example.invalid:80: its name was not found in DNS ("
    )
    assert retried.endswith(
        "(attempt 1 of 9). Check base_url, and that this machine can reach courier.example.invalid:80.' after 1 "
        "tries. Waiting 1 seconds then retrying..."
    )
    assert_no_key_in(last_output())


# --- base_url refused before any request -----------------------------------------------------------------------------

UNENCRYPTED, USERINFO = "would send the API key unencrypted", "must not contain a user name or password"
REFUSED = [
    pytest.param("http://courier.example.com", UNENCRYPTED, id="remote-host-name"),
    pytest.param("http://10.0.0.1", UNENCRYPTED, id="private-address"),
    pytest.param("http://user:pass@{loopback}", USERINFO, id="user-and-password"),
    pytest.param(f"http://user:{API_KEY}@{{loopback}}", USERINFO, id="key-as-password"),
]


@pytest.fixture
def proxy(sites: Sites) -> Site:
    """Where any request would land: every request goes through it, loopback ones included (the remote redirect
    test shows it receives them)."""
    return sites().answer("/messages", page(0, 1))


def proxied(proxy: Site) -> dict[str, str]:
    return {**NO_PROXY_ENV, "HTTP_PROXY": proxy.url(), "HTTPS_PROXY": proxy.url()}


@pytest.mark.parametrize("base_url, fix", REFUSED)
def test_check_refuses_a_base_url_that_would_expose_the_key_before_any_request(tmp_path, proxy, base_url, fix):
    config = cli_runner.config(base_url.format(loopback=proxy.host()))

    code, messages = cli(tmp_path, "check", config, env=proxied(proxy))

    assert code == 0
    (status,) = of_type(messages, "CONNECTION_STATUS")
    assert status["status"] == "FAILED" and fix in status["message"]
    assert proxy.received == []
    assert_no_key_in(last_output())


@pytest.mark.parametrize("base_url, fix", REFUSED)
def test_read_refuses_a_base_url_that_would_expose_the_key_before_any_request(tmp_path, proxy, base_url, fix):
    code, messages = read(tmp_path, base_url.format(loopback=proxy.host()), proxied(proxy))

    assert code != 0 and record_ids(messages) == []
    (error,) = error_traces(messages)
    assert error["failure_type"] == "config_error" and fix in error["message"]
    assert proxy.received == []
    assert_no_key_in(last_output())


# --- --debug against the emulator --------------------------------------------------------------------------------

# Plain --debug prints {"type": "DEBUG", ...} lines to stdout; with LOG_LEVEL=debug as well (as the platform runs
# it) they are LOG messages instead.
DEBUG_MODES = [
    pytest.param(NO_PROXY_ENV, id="debug"),
    pytest.param({**NO_PROXY_ENV, "LOG_LEVEL": "debug"}, id="debug-platform-log-level"),
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with run_in_thread(api_key=API_KEY, messages=5, workspace="small") as running:
        yield running


@pytest.fixture
def courier(emulator: RunningEmulator) -> Iterator[RunningEmulator]:
    emulator.reset()
    yield emulator
    emulator.set_faults([])


def debug_run(tmp_path: Path, env: dict[str, str], command: str, config: dict, **files: Any) -> list[dict]:
    """Runs a command with --debug; returns every line it printed, parsed (DEBUG lines included)."""
    return cli(tmp_path, command, config, extra_args=("--debug",), env=env, **files)[1]


def outbound_requests(lines: list[dict]) -> list[tuple[str, str]]:
    """The URL and headers of each request the CDK logged as "Making outbound API request", in either format."""
    logged = []
    for line in lines:
        if line["type"] == "DEBUG" and line["message"] == "Making outbound API request":
            logged.append(line["data"])
        elif line["type"] == "LOG" and line["log"]["message"].startswith("Making outbound API request ///"):
            logged.append(json.loads(line["log"]["message"].split("Extra logs: ", 1)[1]))
    return [(data["url"], data["headers"]) for data in logged]


def assert_requests_logged_with_the_key_masked(lines: list[dict], urls: list[str]) -> None:
    logged = outbound_requests(lines)
    assert [url for url, _ in logged] == urls
    assert all("'Authorization': 'Bearer ****'" in headers for _, headers in logged)
    assert_no_key_in(last_output())


@pytest.mark.parametrize("env", DEBUG_MODES)
def test_debug_check_logs_its_request_with_the_key_masked(tmp_path, courier, env):
    lines = debug_run(tmp_path, env, "check", cli_runner.config(courier.base_url))

    assert [status["status"] for status in of_type(lines, "CONNECTION_STATUS")] == ["SUCCEEDED"]
    assert_requests_logged_with_the_key_masked(lines, [f"{courier.base_url}/messages?limit=100"])


@pytest.mark.parametrize("env", DEBUG_MODES)
def test_debug_read_logs_its_requests_with_the_key_masked(tmp_path, courier, env):
    lines = debug_run(tmp_path, env, "read", cli_runner.config(courier.base_url), catalog=CATALOG.read_text())

    assert record_ids(lines) == list(courier.log.ids())
    assert_requests_logged_with_the_key_masked(lines, [f"{courier.base_url}/messages?limit=100"])


@pytest.mark.parametrize("env", DEBUG_MODES)
def test_debug_read_with_a_wrong_key_fails_without_printing_it(tmp_path, courier, env):
    config = cli_runner.config(courier.base_url, api_key=f" {WRONG_KEY}\n")

    lines = debug_run(tmp_path, env, "read", config, catalog=CATALOG.read_text())

    assert_rejected_key(lines, EMULATOR_REFUSAL)
    assert [request["authorized"] for request in courier.requests()] == [False]
    assert_requests_logged_with_the_key_masked(lines, [f"{courier.base_url}/messages?limit=100"])


@pytest.mark.parametrize("env", DEBUG_MODES)
def test_debug_read_through_a_500_logs_the_failed_request_with_the_key_masked(tmp_path, courier, env):
    courier.set_faults(["500"], max_in_a_row=1, retry_after=1, retry_after_on_errors=True)

    lines = debug_run(tmp_path, env, "read", cli_runner.config(courier.base_url), catalog=CATALOG.read_text())

    assert record_ids(lines) == list(courier.log.ids()) and error_traces(lines) == []
    assert courier.stats()["faults"] == {"500": 1}
    # A 500 takes the CDK's own backoff (1 s first), logged with the manifest's message for it.
    assert [line for line in logs(lines) if "retrying" in line.lower()] == [
        f"Caught retryable error 'Courier did not answer {courier.base_url}/messages successfully (a timeout, "
        "conflict or server error); retried with backoff. Try the sync again later.' after 1 tries. Waiting 1 "
        "seconds then retrying..."
    ]
    assert_requests_logged_with_the_key_masked(
        lines, [f"{courier.base_url}/messages?limit=100"] * 2
    )  # failed, then retried


@pytest.mark.parametrize("env", DEBUG_MODES)
def test_debug_read_of_providers_never_prints_their_settings(tmp_path, courier, env):
    config = cli_runner.config(courier.base_url)
    discovered = of_type(cli(tmp_path, "discover", config)[1], "CATALOG")[0]["streams"]
    (providers,) = [stream for stream in discovered if stream["name"] == "providers"]
    catalog = {"streams": [{"stream": providers, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}

    lines = debug_run(tmp_path, env, "read", config, catalog=catalog)

    assert of_type(lines, "RECORD") and error_traces(lines) == []
    assert_no_key_in(last_output())
    assert [line[:60] for line in last_output().splitlines() if PROVIDER_SECRET_MARKER in line] == []
