"""Behaviour of the local Courier API emulator (``courier_emulator``) that the connector's tests rely on.

Expected values are spelled out (ids, cursors, statuses) or recomputed independently (base64 cursors), so
a change to the generated data or to the paging rules shows up here.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from courier_emulator import DEMO_API_KEY, MessageLog, message, run_in_thread
from courier_emulator.data import InvalidRequest, parse_enqueued_after
from courier_emulator.server import RunningEmulator

pytest_plugins = ["courier_emulator.fixtures"]

REPO_ROOT = Path(__file__).resolve().parents[1]
ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the default anchor
SPACING_MS = 60_000

FIRST_TEN_IDS = [
    "1-6955b900-a9bb114ff242e0d286c7232e",
    "1-6955b8c4-ae648e2e2bee037d6c232cc9",
    "1-6955b888-aac1b45dae3b687177b8f7d6",
    "1-6955b84c-5cc91c5c57dd06fad8465993",
    "1-6955b810-22724ffc8c4836eda6defbba",
    "1-6955b7d4-b071d449a3e12fd9ee8fbbc8",
    "1-6955b798-d512635ebccc314d92e56a33",
    "1-6955b75c-b99238b8afba0df5b08cb326",
    "1-6955b720-2aa55fd7fff0cb0a81bb9288",
    "1-6955b6e4-858c588bfbabc60addcbaf98",
]
FIRST_TEN_STATUSES = [
    "CLICKED",
    "OPENED",
    "DELIVERED",
    "SENT",
    "ENQUEUED",
    "UNDELIVERABLE",
    "DIGESTED",
    "CLICKED",
    "OPENED",
    "DELIVERED",
]
CLI_API_KEY = "courier-emulator-cli-test-key-0b6f3e9d2c7a4185"
UNAUTHORIZED = {"message": "Unauthorized", "type": "authentication_error"}
NOT_FOUND = {"message": "Not Found", "type": "invalid_request_error"}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def call(
    base_url: str,
    path: str,
    params: dict[str, str] | None = None,
    *,
    key: str | None,
    method: str = "GET",
    data: bytes | None = None,
) -> Response:
    url = f"{base_url}{path}" + (f"?{urlencode(params)}" if params else "")
    request = urllib.request.Request(url, method=method, data=data)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            status, headers, raw = reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    return Response(status, headers, json.loads(raw) if raw else None)


def messages(emulator: RunningEmulator, **params: str) -> Response:
    return call(emulator.base_url, "/messages", params or None, key=emulator.api_key)


def cursor_of(record: dict[str, Any]) -> str:
    return base64.b64encode(f"{record['enqueued']},{record['id']}".encode()).decode()


def walk(emulator: RunningEmulator, **params: str) -> list[dict[str, Any]]:
    """Every page of /messages for these filters; asserts the paging envelope on the way."""
    pages = [messages(emulator, **params).body]
    while pages[-1]["paging"]["more"]:
        assert len(pages[-1]["results"]) == 10
        pages.append(messages(emulator, **params, cursor=pages[-1]["paging"]["cursor"]).body)
    assert pages[-1]["paging"] == {"cursor": None, "more": False}
    return pages


# --- the message log -------------------------------------------------------------------------------


def test_message_zero_is_the_newest_clicked_message_with_all_documented_fields_and_tags() -> None:
    assert message(0) == {
        "id": "1-6955b900-a9bb114ff242e0d286c7232e",
        "status": "CLICKED",
        "enqueued": 1767225600000,
        "sent": 1767225600712,
        "delivered": 1767225603713,
        "opened": 1767225609985,
        "clicked": 1767225610697,
        "recipient": "user-ada",
        "event": "welcome",
        "notification": "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4",
        "error": None,
        "reason": None,
        "tags": ["onboarding"],
    }


@pytest.mark.parametrize(
    ("i", "status", "set_timestamps", "error", "reason"),
    [
        (0, "CLICKED", {"sent", "delivered", "opened", "clicked"}, None, None),
        (1, "OPENED", {"sent", "delivered", "opened"}, None, None),
        (2, "DELIVERED", {"sent", "delivered"}, None, None),
        (3, "SENT", {"sent"}, None, None),
        (4, "ENQUEUED", set(), None, None),
        (5, "UNDELIVERABLE", set(), "400 Bad Request", "BOUNCED"),
        (6, "DIGESTED", set(), None, None),
        (12, "UNDELIVERABLE", set(), "400 Bad Request", "PROVIDER_ERROR"),
    ],
)
def test_delivery_timestamps_error_and_reason_follow_the_status(
    i: int, status: str, set_timestamps: set[str], error: str | None, reason: str | None
) -> None:
    record = message(i)
    assert record["status"] == status
    assert record["enqueued"] == ANCHOR_MS - i * SPACING_MS
    assert {name for name in ("sent", "delivered", "opened", "clicked") if record[name] is not None} == set_timestamps
    assert all(isinstance(record[name], int) for name in set_timestamps)
    assert (record["error"], record["reason"]) == (error, reason)


def test_only_some_messages_carry_the_undocumented_tags_field() -> None:
    assert [message(i).get("tags") for i in range(5)] == [
        ["onboarding"],
        None,
        ["billing", "priority"],
        None,
        None,
    ]


def test_ids_are_unique_courier_shaped_and_yielded_lazily() -> None:
    log = MessageLog(100_000)
    ids = log.ids()
    assert isinstance(ids, Iterator) and not isinstance(ids, (list, tuple))
    seen = set()
    for msg_id in ids:
        assert re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", msg_id)
        seen.add(msg_id)
    assert len(seen) == 100_000
    assert list(MessageLog(10).ids()) == FIRST_TEN_IDS


@pytest.mark.parametrize(
    ("enqueued_after", "expected"),
    [
        (None, range(25)),
        (ANCHOR_MS + 1, range(0)),
        (ANCHOR_MS, range(1)),
        (ANCHOR_MS - 3 * SPACING_MS, range(4)),
        (ANCHOR_MS - 3 * SPACING_MS + 1, range(3)),
        (0, range(25)),
    ],
)
def test_index_range_for_enqueued_after_is_inclusive(enqueued_after: int | None, expected: range) -> None:
    assert MessageLog(25).indices_enqueued_since(enqueued_after) == expected


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("1686752793725", 1686752793725),
        ("2025-12-31T23:57:00Z", 1767225420000),
        ("2025-12-31T23:57:00.000Z", 1767225420000),
        ("2025-12-31T23:57:00+00:00", 1767225420000),
        ("2026-01-01T00:57:00+01:00", 1767225420000),
        ("2025-12-31T23:57:00.25Z", 1767225420250),
        ("2025-12-31T23:57:00.000001Z", 1767225420001),  # rounded up: the filter stays exact
    ],
)
def test_enqueued_after_accepts_epoch_ms_and_zoned_iso_8601(value: str, ms: int) -> None:
    assert parse_enqueued_after(value) == ms


@pytest.mark.parametrize(
    "value", ["", "yesterday", "-5", "1.5e12", "2026-01-01", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z"]
)
def test_enqueued_after_rejects_anything_else(value: str) -> None:
    with pytest.raises(InvalidRequest, match="enqueued_after"):
        parse_enqueued_after(value)


# --- GET /messages ---------------------------------------------------------------------------------


def test_first_page_has_the_ten_newest_messages_and_more_true(courier_emulator: RunningEmulator) -> None:
    response = messages(courier_emulator)

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert [r["id"] for r in response.body["results"]] == FIRST_TEN_IDS
    assert [r["status"] for r in response.body["results"]] == FIRST_TEN_STATUSES
    assert [r["enqueued"] for r in response.body["results"]] == [ANCHOR_MS - i * SPACING_MS for i in range(10)]
    assert response.body["results"] == [message(i) for i in range(10)]
    assert response.body["paging"] == {
        "cursor": "MTc2NzIyNTA2MDAwMCwxLTY5NTViNmU0LTg1OGM1ODhiZmJhYmM2MGFkZGNiYWY5OA==",
        "more": True,
    }
    assert base64.b64decode(response.body["paging"]["cursor"]) == b"1767225060000,1-6955b6e4-858c588bfbabc60addcbaf98"


def test_walking_the_cursor_returns_every_message_once_newest_first(
    courier_emulator: RunningEmulator,
) -> None:
    pages = walk(courier_emulator)

    assert [len(page["results"]) for page in pages] == [10, 10, 5]
    assert [page["paging"]["cursor"] for page in pages] == [
        cursor_of(message(9)),
        cursor_of(message(19)),
        None,
    ]
    assert [r["id"] for page in pages for r in page["results"]] == list(MessageLog(25).ids())
    enqueued = [r["enqueued"] for page in pages for r in page["results"]]
    assert enqueued == sorted(enqueued, reverse=True) and len(set(enqueued)) == 25
    assert [entry["query"] for entry in courier_emulator.requests()] == [
        {},
        {"cursor": cursor_of(message(9))},
        {"cursor": cursor_of(message(19))},
    ]


def test_a_limit_parameter_is_ignored(courier_emulator: RunningEmulator) -> None:
    response = messages(courier_emulator, limit="100")
    assert [r["id"] for r in response.body["results"]] == FIRST_TEN_IDS
    assert response.body["paging"]["more"] is True


def test_an_empty_log_has_one_empty_last_page(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(messages=0)
    assert messages(emulator).body == {"paging": {"cursor": None, "more": False}, "results": []}


@pytest.mark.parametrize(
    "enqueued_after",
    [
        "1767225420000",
        "2025-12-31T23:57:00Z",
        "2025-12-31T23:57:00.000Z",
        "2025-12-31T23:57:00+00:00",
        "2026-01-01T00:57:00+01:00",
    ],
)
def test_enqueued_after_includes_a_message_enqueued_exactly_then(
    courier_emulator: RunningEmulator, enqueued_after: str
) -> None:
    response = messages(courier_emulator, enqueued_after=enqueued_after)

    assert response.status == 200
    assert message(3)["enqueued"] == 1767225420000
    assert [r["id"] for r in response.body["results"]] == FIRST_TEN_IDS[:4]
    assert response.body["paging"] == {"cursor": None, "more": False}


@pytest.mark.parametrize("enqueued_after", ["1767225420001", "2025-12-31T23:57:00.001Z"])
def test_enqueued_after_one_ms_later_excludes_that_message(
    courier_emulator: RunningEmulator, enqueued_after: str
) -> None:
    assert [r["id"] for r in messages(courier_emulator, enqueued_after=enqueued_after).body["results"]] == (
        FIRST_TEN_IDS[:3]
    )


def test_enqueued_after_is_kept_across_pages_with_the_cursor(courier_emulator: RunningEmulator) -> None:
    boundary = str(message(14)["enqueued"])
    pages = walk(courier_emulator, enqueued_after=boundary)

    assert [r["id"] for page in pages for r in page["results"]] == list(MessageLog(15).ids())
    assert [entry["query"] for entry in courier_emulator.requests()] == [
        {"enqueued_after": boundary},
        {"enqueued_after": boundary, "cursor": cursor_of(message(9))},
    ]


@pytest.mark.parametrize("enqueued_after", ["yesterday", "", "2026-01-01", "2026-01-01T00:00:00"])
def test_a_malformed_enqueued_after_is_a_400_naming_the_parameter(
    courier_emulator: RunningEmulator, enqueued_after: str
) -> None:
    response = messages(courier_emulator, enqueued_after=enqueued_after)

    assert response.status == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.body["type"] == "invalid_request_error"
    assert "enqueued_after" in response.body["message"]


def test_status_filter_takes_a_comma_joined_list_and_pages_consistently(
    courier_emulator: RunningEmulator,
) -> None:
    pages = walk(courier_emulator, status="UNDELIVERABLE,DIGESTED")

    results = [r for page in pages for r in page["results"]]
    assert [(r["id"], r["status"]) for r in results] == [
        (message(i)["id"], message(i)["status"]) for i in (5, 6, 12, 13, 19, 20)
    ]
    assert len(pages) == 1


def test_status_and_recipient_filters_combine_across_pages(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(messages=200)
    pages = walk(emulator, status="CLICKED,OPENED", recipient="user-grace")

    # status cycles every 7 messages, recipient every 4: CLICKED/OPENED for user-grace is i % 28 in {1, 21}
    expected = [i for i in range(200) if i % 28 in (1, 21)]
    assert [r["id"] for page in pages for r in page["results"]] == [message(i)["id"] for i in expected]
    assert [len(page["results"]) for page in pages] == [10, 5]
    assert all(entry["query"]["recipient"] == "user-grace" for entry in emulator.requests())


def test_a_filter_that_matches_nothing_returns_an_empty_last_page(courier_emulator: RunningEmulator) -> None:
    assert messages(courier_emulator, status="CANCELED").body == {
        "paging": {"cursor": None, "more": False},
        "results": [],
    }


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "Bearer {key}x", "Bearer  {key}", "Basic {key}", "{key}"]
)
def test_a_missing_or_wrong_key_is_a_401_authentication_error(
    courier_emulator: RunningEmulator, authorization: str | None
) -> None:
    headers = {"Authorization": authorization.format(key=courier_emulator.api_key)} if authorization else {}
    connection = http.client.HTTPConnection(urlsplit(courier_emulator.base_url).netloc, timeout=10)
    connection.request("GET", "/messages", headers=headers)
    reply = connection.getresponse()

    assert reply.status == 401
    assert reply.getheader("Content-Type") == "application/json"
    assert json.loads(reply.read()) == UNAUTHORIZED
    connection.close()


def test_the_bearer_scheme_is_case_insensitive(courier_emulator: RunningEmulator) -> None:
    connection = http.client.HTTPConnection(urlsplit(courier_emulator.base_url).netloc, timeout=10)
    connection.request("GET", "/messages", headers={"Authorization": f"bearer {courier_emulator.api_key}"})
    assert connection.getresponse().status == 200
    connection.close()


@pytest.mark.parametrize("path", ["/brands", "/messages/1-6955b900-a9bb114ff242e0d286c7232e", "/", "/messages/"])
def test_an_unknown_path_is_a_404(courier_emulator: RunningEmulator, path: str) -> None:
    response = call(courier_emulator.base_url, path, key=courier_emulator.api_key)
    assert (response.status, response.body) == (404, NOT_FOUND)
    assert response.headers["Content-Type"] == "application/json"


def test_an_unknown_path_without_a_key_is_a_401(courier_emulator: RunningEmulator) -> None:
    response = call(courier_emulator.base_url, "/brands", key=None)
    assert (response.status, response.body) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_other_methods_than_get_are_a_405(courier_emulator: RunningEmulator, method: str) -> None:
    response = call(
        courier_emulator.base_url, "/messages", key=courier_emulator.api_key, method=method, data=b'{"x": 1}'
    )

    assert response.status == 405
    assert response.headers["Allow"] == "GET"
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == {"message": "Method Not Allowed", "type": "invalid_request_error"}


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        base64.b64encode(b"garbage").decode(),
        base64.b64encode(b"1767225060000,1-00000000-000000000000000000000000").decode(),  # unknown id
        cursor_of(message(9, anchor_ms=ANCHOR_MS + 1)),  # a cursor from another log
        cursor_of(message(25)),  # one past the end of a 25-message log
    ],
)
def test_an_invalid_cursor_is_a_400(courier_emulator: RunningEmulator, cursor: str) -> None:
    response = messages(courier_emulator, cursor=cursor)
    assert (response.status, response.body) == (
        400,
        {"message": "Invalid cursor", "type": "invalid_request_error"},
    )


def test_a_keep_alive_connection_serves_several_requests_even_after_a_request_body(
    courier_emulator: RunningEmulator,
) -> None:
    connection = http.client.HTTPConnection(urlsplit(courier_emulator.base_url).netloc, timeout=10)
    auth = {"Authorization": f"Bearer {courier_emulator.api_key}"}
    connection.request("POST", "/messages", body=b'{"ignored": true}', headers=auth)
    first = connection.getresponse()
    assert (first.status, json.loads(first.read())["message"]) == (405, "Method Not Allowed")
    connection.request("GET", "/messages", headers=auth)
    second = connection.getresponse()
    assert second.status == 200
    assert [r["id"] for r in json.loads(second.read())["results"]] == FIRST_TEN_IDS
    connection.close()


# --- admin endpoints -------------------------------------------------------------------------------


def test_admin_requests_records_exact_queries_in_order_and_never_the_key(
    courier_emulator: RunningEmulator,
) -> None:
    base, key = courier_emulator.base_url, courier_emulator.api_key
    cursor = cursor_of(message(9))
    messages(courier_emulator, enqueued_after="1767225420000")
    messages(courier_emulator, enqueued_after="2025-12-31T23:57:00Z", cursor=cursor)
    call(base, "/messages", {"status": "SENT,DELIVERED", "recipient": "user-ada"}, key=None)
    call(base, f"/brands/{key}", {"api_key": key}, key="wrong")

    response = call(base, "/__admin/requests", key=None)

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == [
        {
            "method": "GET",
            "path": "/messages",
            "query": {"enqueued_after": "1767225420000"},
            "authorized": True,
        },
        {
            "method": "GET",
            "path": "/messages",
            "query": {"enqueued_after": "2025-12-31T23:57:00Z", "cursor": cursor},
            "authorized": True,
        },
        {
            "method": "GET",
            "path": "/messages",
            "query": {"status": "SENT,DELIVERED", "recipient": "user-ada"},
            "authorized": False,
        },
        {
            "method": "GET",
            "path": "/brands/[REDACTED]",
            "query": {"api_key": "[REDACTED]"},
            "authorized": False,
        },
    ]
    assert key not in json.dumps(response.body)
    assert courier_emulator.requests() == response.body


def test_admin_reset_clears_the_request_log(courier_emulator: RunningEmulator) -> None:
    messages(courier_emulator)
    messages(courier_emulator, limit="5")

    response = call(courier_emulator.base_url, "/__admin/reset", key=None, method="POST", data=b"")

    assert (response.status, response.body) == (200, {"cleared": 2})
    assert call(courier_emulator.base_url, "/__admin/requests", key=None).body == []
    messages(courier_emulator)
    assert courier_emulator.requests() == [{"method": "GET", "path": "/messages", "query": {}, "authorized": True}]


def test_admin_endpoints_check_their_method(courier_emulator: RunningEmulator) -> None:
    assert call(courier_emulator.base_url, "/__admin/reset", key=None).status == 405
    assert call(courier_emulator.base_url, "/__admin/requests", key=None, method="POST", data=b"").status == 405
    assert call(courier_emulator.base_url, "/__admin/other", key=None).body == NOT_FOUND
    assert courier_emulator.requests() == []


# --- a million messages ----------------------------------------------------------------------------


def test_a_million_message_log_serves_first_and_last_pages_building_only_those_records(
    courier_emulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = courier_emulator_factory(messages=1_000_000)
    built: list[int] = []
    build = emulator.log.message
    monkeypatch.setattr(emulator.log, "message", lambda i: built.append(i) or build(i))

    first = messages(emulator).body
    assert [r["id"] for r in first["results"]] == FIRST_TEN_IDS
    assert first["paging"]["more"] is True
    assert built == list(range(10))

    built.clear()
    last = messages(emulator, cursor=cursor_of(message(999_989))).body
    assert last["results"] == [message(i) for i in range(999_990, 1_000_000)]
    assert last["results"][-1]["id"] == "1-65c2323c-9119e8927268a697cac787ae"
    assert last["results"][-1]["enqueued"] == ANCHOR_MS - 999_999 * SPACING_MS
    assert last["paging"] == {"cursor": None, "more": False}
    assert built == list(range(999_990, 1_000_000))

    built.clear()
    digested = messages(emulator, status="DIGESTED", cursor=cursor_of(message(999_900))).body
    assert [r["id"] for r in digested["results"]] == [
        message(i)["id"] for i in range(999_901, 1_000_000) if i % 7 == 6
    ][:10]
    assert built == [i for i in range(999_901, 1_000_000) if i % 7 == 6][:10]

    built.clear()
    assert messages(emulator, status="CANCELED").body["results"] == []
    assert built == []


# --- running it --------------------------------------------------------------------------------------


def test_run_in_thread_serves_until_stopped() -> None:
    with run_in_thread(messages=3, anchor_ms=1_000_000, spacing_ms=1_000) as emulator:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emulator.base_url)
        assert emulator.api_key == DEMO_API_KEY
        body = messages(emulator).body
        assert [r["enqueued"] for r in body["results"]] == [1_000_000, 999_000, 998_000]
        assert body["paging"] == {"cursor": None, "more": False}
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{emulator.base_url}/messages", timeout=2)
    emulator.stop()  # idempotent


def test_run_in_thread_refuses_a_non_loopback_host() -> None:
    with pytest.raises(ValueError, match="loopback only: 127.0.0.1, ::1, localhost"):
        run_in_thread(host="0.0.0.0")


@contextmanager
def cli(*args: str) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "courier_emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def first_line(process: subprocess.Popen[str], timeout: float = 15) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert lines, "the emulator printed no line in time"
    return lines[0]


@pytest.mark.parametrize(
    ("args", "key", "stop_signal"),
    [
        (["--api-key", CLI_API_KEY], CLI_API_KEY, signal.SIGTERM),
        ([], DEMO_API_KEY, signal.SIGINT),
    ],
)
def test_cli_prints_its_base_url_first_serves_and_exits_cleanly_on_a_signal(
    args: list[str], key: str, stop_signal: signal.Signals
) -> None:
    with cli("--port", "0", "--messages", "12", *args) as process:
        line = first_line(process)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+\n", line)
        base_url = line.strip()

        first = call(base_url, "/messages", key=key).body
        assert [r["id"] for r in first["results"]] == FIRST_TEN_IDS
        second = call(base_url, "/messages", {"cursor": first["paging"]["cursor"]}, key=key).body
        assert [r["id"] for r in second["results"]] == [message(10)["id"], message(11)["id"]]
        assert call(base_url, "/messages", key="wrong").status == 401

        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
        assert (stdout, stderr) == ("", "")


def test_cli_takes_the_log_shape_from_its_flags() -> None:
    with cli("--port", "0", "--messages", "2", "--anchor-ms", "5000", "--spacing-ms", "1000") as process:
        base_url = first_line(process).strip()
        body = call(base_url, "/messages", key=DEMO_API_KEY).body
        assert [(r["id"], r["enqueued"]) for r in body["results"]] == [
            (message(0, anchor_ms=5000, spacing_ms=1000)["id"], 5000),
            (message(1, anchor_ms=5000, spacing_ms=1000)["id"], 4000),
        ]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_cli_refuses_a_non_loopback_host(host: str) -> None:
    with cli("--port", "0", "--host", host) as process:
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 2
    assert stdout == ""
    assert "loopback only: 127.0.0.1, ::1, localhost" in stderr
