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
from courier_emulator.__main__ import build_parser, fault_plan
from courier_emulator.__main__ import main as cli_main
from courier_emulator.data import InvalidRequest, parse_enqueued_after
from courier_emulator.server import RunningEmulator, WorkspaceUnavailable, load_workspace

REPO_ROOT = Path(__file__).resolve().parents[1]
ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, the default anchor
SPACING_MS = 60_000
UUID_LIKE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
NO_STATS = {
    "requests": {},
    "faults": {},
    "filters": {"enqueued_after": [], "cursor": 0, "since": [], "start_date": [], "status": [], "recipient": []},
}

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
UNAUTHORIZED = {"message": "Unauthorized", "type": "authentication_error"}  # with auth_failure_status=401
FORBIDDEN = {"message": "Invalid or missing authentication credentials", "type": "authorization_error"}
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


def get(emulator: RunningEmulator, path: str, **params: str) -> Response:
    return call(emulator.base_url, path, params or None, key=emulator.api_key)


def admin(emulator: RunningEmulator, method: str, name: str, body: Any = None) -> Response:
    data = b"" if body is None else json.dumps(body).encode()
    return call(emulator.base_url, f"/__admin/{name}", key=None, method=method, data=data if method == "POST" else None)


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
@pytest.mark.parametrize(
    ("setting", "status", "body"), [({}, 403, FORBIDDEN), ({"auth_failure_status": 401}, 401, UNAUTHORIZED)]
)
def test_a_missing_or_wrong_key_is_a_403_authorization_error_or_with_the_setting_a_401(
    courier_emulator_factory: Any, authorization: str | None, setting: dict[str, int], status: int, body: Any
) -> None:
    emulator = courier_emulator_factory(**setting)
    headers = {"Authorization": authorization.format(key=emulator.api_key)} if authorization else {}
    connection = http.client.HTTPConnection(urlsplit(emulator.base_url).netloc, timeout=10)
    connection.request("GET", "/messages", headers=headers)
    reply = connection.getresponse()

    assert reply.status == status
    assert reply.getheader("Content-Type") == "application/json"
    assert json.loads(reply.read()) == body
    connection.close()
    assert emulator.requests()[0]["authorized"] is False


def test_the_bearer_scheme_is_case_insensitive(courier_emulator: RunningEmulator) -> None:
    connection = http.client.HTTPConnection(urlsplit(courier_emulator.base_url).netloc, timeout=10)
    connection.request("GET", "/messages", headers={"Authorization": f"bearer {courier_emulator.api_key}"})
    assert connection.getresponse().status == 200
    connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/brands",  # no workspace in this emulator
        "/messages/1-6955b900-000000000000000000000000",  # id-shaped, not in the log
        "/messages/1-6955b900-a9bb114ff242e0d286c7232e/unknown",
        "/messages/1-6955b900-a9bb114ff242e0d286c7232e/history/extra",
        "/",
        "/messages/",
    ],
)
def test_an_unknown_path_is_a_404(courier_emulator: RunningEmulator, path: str) -> None:
    response = call(courier_emulator.base_url, path, key=courier_emulator.api_key)
    assert (response.status, response.body) == (404, NOT_FOUND)
    assert response.headers["Content-Type"] == "application/json"


def test_an_unknown_path_without_a_key_is_a_403_or_with_the_setting_a_401(courier_emulator_factory: Any) -> None:
    response = call(courier_emulator_factory().base_url, "/brands", key=None)
    assert (response.status, response.body) == (403, FORBIDDEN)
    response = call(courier_emulator_factory(auth_failure_status=401).base_url, "/brands", key=None)
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


# --- GET /messages/{id}, /history, /output -----------------------------------------------------------


def test_retrieving_a_message_returns_its_record_plus_the_providers_list(courier_emulator: RunningEmulator) -> None:
    response = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[0]}")

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.body == {
        **message(0),
        "providers": [
            {
                "channel": "email",
                "provider": "sendgrid",
                "status": "CLICKED",
                "reference": {"provider_message_id": "sendgrid-a9bb114ff242e0d286c7232e"},
                "providerResponse": {"statusCode": 202},
            }
        ],
    }


@pytest.mark.parametrize(
    ("i", "providers"),
    [
        (4, []),  # ENQUEUED: not routed yet
        (6, []),  # DIGESTED: held for a digest
        (
            5,
            [
                {
                    "channel": "push",
                    "provider": "firebase-fcm",
                    "status": "UNDELIVERABLE",
                    "error": "400 Bad Request",
                    "providerResponse": {"statusCode": 400, "message": "BOUNCED"},
                }
            ],
        ),
    ],
)
def test_providers_follow_the_status(courier_emulator: RunningEmulator, i: int, providers: list[Any]) -> None:
    body = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[i]}").body
    assert body == {**message(i), "providers": providers}


@pytest.mark.parametrize(
    ("i", "types"),
    [
        (0, ["ENQUEUED", "MAPPED", "PROFILE_LOADED", "RENDERED", "SENT", "DELIVERED", "OPENED", "CLICKED"]),
        (1, ["ENQUEUED", "MAPPED", "PROFILE_LOADED", "RENDERED", "SENT", "DELIVERED", "OPENED"]),
        (2, ["ENQUEUED", "MAPPED", "PROFILE_LOADED", "RENDERED", "SENT", "DELIVERED"]),
        (3, ["ENQUEUED", "MAPPED", "PROFILE_LOADED", "RENDERED", "SENT"]),
        (4, ["ENQUEUED"]),
        (5, ["ENQUEUED", "MAPPED", "PROFILE_LOADED", "RENDERED", "UNDELIVERABLE"]),
        (6, ["ENQUEUED", "MAPPED", "PROFILE_LOADED"]),
    ],
)
def test_history_is_oldest_first_and_consistent_with_the_status_and_timestamps(
    courier_emulator: RunningEmulator, i: int, types: list[str]
) -> None:
    record = message(i)
    results = get(courier_emulator, f"/messages/{record['id']}/history").body["results"]

    assert [item["type"] for item in results] == types
    assert all(isinstance(item["ts"], int) for item in results)
    assert [item["ts"] for item in results] == sorted(item["ts"] for item in results)
    assert results[0] == {"ts": record["enqueued"], "type": "ENQUEUED"}
    for item in results:
        if item["type"] in ("SENT", "DELIVERED", "OPENED", "CLICKED"):
            assert item["ts"] == record[item["type"].lower()]
    assert {name for name in ("sent", "delivered", "opened", "clicked") if record[name] is not None} == {
        t.lower() for t in types if t in ("SENT", "DELIVERED", "OPENED", "CLICKED")
    }


def test_history_items_carry_their_documented_fields(courier_emulator: RunningEmulator) -> None:
    clicked = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[0]}/history").body["results"]
    undeliverable = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[5]}/history").body["results"]

    assert clicked[1] == {
        "ts": ANCHOR_MS + 45,
        "type": "MAPPED",
        "event_id": "welcome",
        "notification_id": "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4",
    }
    assert clicked[2] == {"ts": ANCHOR_MS + 120, "type": "PROFILE_LOADED"}
    routed = clicked[3:]
    channel, integration = routed[0]["channel"], routed[0]["integration"]
    assert re.fullmatch(UUID_LIKE, channel["id"]) and re.fullmatch(UUID_LIKE, integration["id"])
    assert integration["provider"] == "sendgrid"
    assert all(set(item) == {"ts", "type", "channel", "integration"} for item in routed)
    assert all((item["channel"], item["integration"]) == (channel, integration) for item in routed)
    assert undeliverable[-1]["type"] == "UNDELIVERABLE"
    assert undeliverable[-1]["error_message"] == "400 Bad Request"
    assert undeliverable[-1]["integration"]["provider"] == "firebase-fcm"
    assert undeliverable[-1]["ts"] == message(5)["enqueued"] + 712


@pytest.mark.parametrize(("event_type", "count"), [("SENT", 1), ("CLICKED", 1), ("UNDELIVERABLE", 0), ("sent", 0)])
def test_history_type_filters_on_the_exact_type(courier_emulator: RunningEmulator, event_type: str, count: int) -> None:
    results = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[0]}/history", type=event_type).body["results"]
    assert [item["type"] for item in results] == [event_type] * count


def test_output_holds_the_content_rendered_for_the_channel(courier_emulator: RunningEmulator) -> None:
    response = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[0]}/output")
    history = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[0]}/history").body["results"]

    assert response.status == 200
    (result,) = response.body["results"]
    assert result["channel"] == "email"
    assert result["channel_id"] == history[3]["channel"]["id"]
    assert result["content"] == {
        "blocks": [
            {"text": "Welcome to Acme", "type": "text"},
            {"text": "Hi Ada, welcome to Acme! Your account is ready.", "type": "text"},
        ],
        "body": "Hi Ada, welcome to Acme! Your account is ready.",
        "html": "<html><body><h1>Welcome to Acme</h1><p>Hi Ada, welcome to Acme! Your account is ready.</p></body></html>",
        "subject": "Welcome to Acme",
        "text": "Welcome to Acme\n\nHi Ada, welcome to Acme! Your account is ready.",
        "title": "Welcome to Acme",
    }
    sms = get(courier_emulator, f"/messages/{FIRST_TEN_IDS[1]}/output").body["results"][0]
    assert (sms["channel"], sms["content"]["subject"]) == ("sms", "")
    assert re.fullmatch(r"Hi Grace, use the code \d{6} to reset your password\.", sms["content"]["body"])


@pytest.mark.parametrize("i", [4, 6])
def test_output_is_empty_before_rendering(courier_emulator: RunningEmulator, i: int) -> None:
    assert get(courier_emulator, f"/messages/{FIRST_TEN_IDS[i]}/output").body == {"results": []}


@pytest.mark.parametrize("suffix", ["", "/history", "/output"])
@pytest.mark.parametrize(
    "msg_id",
    [
        "1-6955b900-000000000000000000000000",
        message(0, anchor_ms=ANCHOR_MS + 1000)["id"],  # right scramble, other enqueued seconds
        message(25)["id"],  # one past the end of a 25-message log
        message(-1)["id"],  # not added yet
        "not-an-id",
    ],
)
def test_an_unknown_message_id_is_a_404(courier_emulator: RunningEmulator, suffix: str, msg_id: str) -> None:
    response = get(courier_emulator, f"/messages/{msg_id}{suffix}")
    assert (response.status, response.body) == (404, NOT_FOUND)


@pytest.mark.parametrize("suffix", ["", "/history", "/output"])
def test_message_sub_resources_allow_only_get(courier_emulator: RunningEmulator, suffix: str) -> None:
    response = call(
        courier_emulator.base_url,
        f"/messages/{FIRST_TEN_IDS[0]}{suffix}",
        key=courier_emulator.api_key,
        method="DELETE",
    )
    assert (response.status, response.headers["Allow"]) == (405, "GET")


def test_every_id_of_a_big_log_maps_back_to_its_message(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(messages=1_000_000)
    for i in (0, 1, 999_999, 123_456):
        assert get(emulator, f"/messages/{message(i)['id']}").body["id"] == message(i)["id"]
    assert emulator.log.index_of_id(message(1_000_000)["id"]) is None


# --- time moving forward: POST /__admin/advance ------------------------------------------------------


def test_advance_adds_exactly_n_messages_newer_than_the_newest(courier_emulator: RunningEmulator) -> None:
    response = admin(courier_emulator, "POST", "advance", {"new_messages": 3, "advance_statuses": False})

    assert (response.status, response.body) == (
        200,
        {"count": 28, "newest_enqueued": ANCHOR_MS + 3 * SPACING_MS, "advanced": 0},
    )
    results = [r for page in walk(courier_emulator) for r in page["results"]]
    assert [r["enqueued"] for r in results] == [ANCHOR_MS - i * SPACING_MS for i in range(-3, 25)]
    assert results == [message(i) for i in range(-3, 25)]
    assert len({r["id"] for r in results}) == 28
    assert courier_emulator.log.message(0) == message(-3)


def test_advance_defaults_to_ten_messages_and_advancing_statuses(courier_emulator: RunningEmulator) -> None:
    # All 25 existing messages are within a day of the new newest; OPENED/DELIVERED/SENT/ENQUEUED
    # (serials i % 7 in 1..4) move one step: 3 full cycles (12) plus 22, 23, 24.
    assert admin(courier_emulator, "POST", "advance").body == {
        "count": 35,
        "newest_enqueued": ANCHOR_MS + 10 * SPACING_MS,
        "advanced": 15,
    }


def test_advance_moves_exactly_the_messages_in_the_status_window_one_step(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(status_window_ms=10 * SPACING_MS)
    before = [message(i) for i in range(25)]

    first = emulator.advance(new_messages=2)

    # window: enqueued >= newest - 10 min = serials 0..8; movable there: 1, 2, 3, 4 and 8
    assert first == {"count": 27, "newest_enqueued": ANCHOR_MS + 2 * SPACING_MS, "advanced": 5}
    body = messages(emulator).body
    assert [r["status"] for r in body["results"]] == [
        "UNDELIVERABLE",  # new messages keep their base status (serials -2, -1)
        "DIGESTED",
        "CLICKED",
        "CLICKED",  # was OPENED
        "OPENED",  # was DELIVERED
        "DELIVERED",  # was SENT
        "SENT",  # was ENQUEUED
        "UNDELIVERABLE",
        "DIGESTED",
        "CLICKED",
    ]
    after = [emulator.log.message(i + 2) for i in range(25)]
    assert [(a["id"], a["enqueued"]) for a in after] == [(b["id"], b["enqueued"]) for b in before]
    assert after[4] == {**before[4], "status": "SENT", "sent": before[4]["enqueued"] + 712}
    assert after[2] == {**before[2], "status": "OPENED", "opened": before[2]["enqueued"] + 9985}
    assert after[9:] == before[9:]  # outside the window: unchanged

    # The next advance (no new messages) covers serials -2..8: 2, 3 and 4 move again, 1 and 8 are CLICKED now.
    assert emulator.advance(new_messages=0) == {
        "count": 27,
        "newest_enqueued": ANCHOR_MS + 2 * SPACING_MS,
        "advanced": 3,
    }
    assert [emulator.log.message(i + 2)["status"] for i in range(10)] == [
        "CLICKED",
        "CLICKED",
        "CLICKED",
        "OPENED",
        "DELIVERED",
        "UNDELIVERABLE",
        "DIGESTED",
        "CLICKED",
        "CLICKED",
        "DELIVERED",
    ]


def test_advanced_statuses_show_in_details_history_and_the_status_filter(courier_emulator: RunningEmulator) -> None:
    courier_emulator.advance(new_messages=0)
    enqueued_now_sent = message(4)["id"]

    details = get(courier_emulator, f"/messages/{enqueued_now_sent}").body
    history = get(courier_emulator, f"/messages/{enqueued_now_sent}/history").body["results"]
    sent = [r["id"] for page in walk(courier_emulator, status="SENT") for r in page["results"]]

    assert (details["status"], details["sent"], details["providers"][0]["status"]) == (
        "SENT",
        message(4)["enqueued"] + 712,
        "SENT",
    )
    assert [item["type"] for item in history][-1] == "SENT"
    # base ENQUEUED serials (i % 7 == 4) are SENT now; base SENT ones moved on to DELIVERED
    assert sent == [message(i)["id"] for i in (4, 11, 18)]


def test_a_cursor_from_before_an_advance_still_reads_the_next_older_messages(courier_emulator: RunningEmulator) -> None:
    first = messages(courier_emulator).body
    courier_emulator.advance(new_messages=5, advance_statuses=False)

    second = messages(courier_emulator, cursor=first["paging"]["cursor"]).body

    assert [r["id"] for r in second["results"]] == [message(i)["id"] for i in range(10, 20)]
    assert second["paging"] == {"cursor": cursor_of(message(19)), "more": True}
    assert [r["id"] for r in messages(courier_emulator).body["results"]][:6] == [message(i)["id"] for i in range(-5, 1)]


def test_enqueued_after_picks_up_exactly_the_new_messages(courier_emulator: RunningEmulator) -> None:
    newest = messages(courier_emulator).body["results"][0]["enqueued"]
    courier_emulator.advance(new_messages=12)

    pages = walk(courier_emulator, enqueued_after=str(newest + 1))

    assert [r["id"] for page in pages for r in page["results"]] == [message(i)["id"] for i in range(-12, 0)]


@pytest.mark.parametrize(
    "body",
    [
        {"new_messages": -1},
        {"new_messages": "3"},
        {"new_messages": True},
        {"advance_statuses": "yes"},
        {"extra": 1},
        [],
    ],
)
def test_advance_rejects_a_bad_body_with_a_400(courier_emulator: RunningEmulator, body: Any) -> None:
    response = admin(courier_emulator, "POST", "advance", body)
    assert response.status == 400
    assert response.body["type"] == "invalid_request_error"
    assert len(courier_emulator.log) == 25


def test_advance_only_accepts_post(courier_emulator: RunningEmulator) -> None:
    response = admin(courier_emulator, "GET", "advance")
    assert (response.status, response.headers["Allow"]) == (405, "POST")


def test_advancing_a_million_message_log_is_arithmetic(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(messages=1_000_000, spacing_ms=1)

    # every message is within a day (1 ms apart): serials with i % 7 in 1..4, 4 per full cycle of 7
    assert emulator.advance(new_messages=1) == {
        "count": 1_000_001,
        "newest_enqueued": ANCHOR_MS + 1,
        "advanced": 571_428,
    }
    assert emulator.advance(new_messages=0)["advanced"] == 428_571  # ENQUEUED, SENT, DELIVERED (3 per cycle)
    # two steps on: DELIVERED now are the messages that were ENQUEUED (i % 7 == 4)
    last = messages(emulator, status="DELIVERED", cursor=cursor_of(message(999_980, spacing_ms=1))).body
    assert [r["id"] for r in last["results"]] == [message(i, spacing_ms=1)["id"] for i in (999_982, 999_989, 999_996)]
    assert last["paging"] == {"cursor": None, "more": False}


# --- other objects: the workspace --------------------------------------------------------------------


class FakeWorkspace:
    """Stands in for courier_emulator.workspace.Workspace: answers /brands and /boom, records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, list[str]]]] = []

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, object] | None:
        self.calls.append((path, query))
        if path == "/brands":
            return 200, {"paging": {"cursor": None, "more": False}, "results": [{"id": "brand-1"}]}
        if path == "/boom":
            raise RuntimeError("a bug in the workspace")
        return None


def test_non_message_paths_go_to_the_workspace(courier_emulator_factory: Any) -> None:
    workspace = FakeWorkspace()
    emulator = courier_emulator_factory(workspace=workspace)

    brands = get(emulator, "/brands", cursor="abc")
    unknown = get(emulator, "/nothing/here")
    messages(emulator)
    unauthorized = call(emulator.base_url, "/brands", key="wrong")

    assert (brands.status, brands.body) == (
        200,
        {"paging": {"cursor": None, "more": False}, "results": [{"id": "brand-1"}]},
    )
    assert (unknown.status, unknown.body) == (404, NOT_FOUND)
    assert unauthorized.status == 403
    assert workspace.calls == [("/brands", {"cursor": ["abc"]}), ("/nothing/here", {})]
    assert emulator.workspace is workspace


def test_workspace_paths_allow_only_get_and_a_workspace_error_is_a_500(
    courier_emulator_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = courier_emulator_factory(workspace=FakeWorkspace())

    post = call(emulator.base_url, "/brands", key=emulator.api_key, method="POST", data=b"{}")
    boom = get(emulator, "/boom")

    assert (post.status, post.headers["Allow"]) == (405, "GET")
    assert (boom.status, boom.body) == (500, {"message": "Internal Server Error", "type": "api_error"})
    assert "a bug in the workspace" in capsys.readouterr().err


def test_workspace_none_loads_nothing_and_a_missing_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_workspace("none") is None
    monkeypatch.setitem(sys.modules, "courier_emulator.workspace", None)  # makes the import fail
    with pytest.raises(WorkspaceUnavailable, match="use --workspace none"):
        load_workspace("small")
    with pytest.raises(ValueError, match="workspace must be one of none, small, demo"):
        load_workspace("huge")


def test_cli_exits_1_naming_the_fix_when_the_workspace_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "courier_emulator.workspace", None)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--port", "0", "--workspace", "small"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "courier_emulator: --workspace small needs courier_emulator.workspace" in err
    assert "use --workspace none" in err


# --- GET /__admin/stats --------------------------------------------------------------------------------


def test_stats_count_requests_by_route_template_and_collect_filter_values(courier_emulator: RunningEmulator) -> None:
    msg_id = FIRST_TEN_IDS[0]
    messages(courier_emulator, enqueued_after="1767225420000")
    messages(courier_emulator, enqueued_after="2025-12-31T23:57:00Z", cursor=cursor_of(message(9)))
    messages(courier_emulator, status="SENT,DELIVERED", recipient="user-ada")
    get(courier_emulator, f"/messages/{msg_id}")
    get(courier_emulator, f"/messages/{msg_id}/history")
    get(courier_emulator, f"/messages/{FIRST_TEN_IDS[1]}/history", type="SENT")
    get(courier_emulator, f"/messages/{msg_id}/output")
    get(courier_emulator, "/brands/brand-1")
    get(courier_emulator, "/automations/runs", start_date="2026-01-01", limit="50")
    get(courier_emulator, "/preferences/logs", since="2026-01-01T00:00:00Z", cursor="x")
    call(courier_emulator.base_url, "/messages", {"status": "CLICKED"}, key="wrong")
    admin(courier_emulator, "GET", "requests")  # admin requests are not counted

    response = admin(courier_emulator, "GET", "stats")

    assert response.status == 200
    assert response.body == {
        "requests": {
            "GET /messages": 4,
            "GET /messages/{id}": 1,
            "GET /messages/{id}/history": 2,
            "GET /messages/{id}/output": 1,
            "GET /brands/{id}": 1,
            "GET /automations/runs": 1,
            "GET /preferences/logs": 1,
        },
        "faults": {},
        "filters": {
            "enqueued_after": ["1767225420000", "2025-12-31T23:57:00Z"],
            "cursor": 2,
            "since": ["2026-01-01T00:00:00Z"],
            "start_date": ["2026-01-01"],
            "status": ["SENT,DELIVERED", "CLICKED"],
            "recipient": ["user-ada"],
        },
    }
    assert courier_emulator.stats() == response.body


def test_stats_count_injected_faults_by_kind(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults([{"kind": "503", "rate": 1.0}], max_in_a_row=2)
    statuses = [messages(courier_emulator).status for _ in range(3)]
    courier_emulator.set_faults(["429-none"], max_in_a_row=1)
    statuses += [messages(courier_emulator, status="SENT").status for _ in range(2)]

    assert statuses == [503, 503, 200, 429, 200]
    assert courier_emulator.stats()["faults"] == {"503": 2, "429-none": 1}
    assert courier_emulator.stats()["requests"] == {"GET /messages": 5}


def test_admin_reset_also_clears_the_stats(courier_emulator: RunningEmulator) -> None:
    messages(courier_emulator, enqueued_after="1")
    assert admin(courier_emulator, "POST", "reset").body == {"cleared": 1}
    assert admin(courier_emulator, "GET", "stats").body == NO_STATS
    messages(courier_emulator)
    assert courier_emulator.reset() == 1
    assert courier_emulator.stats() == NO_STATS


def test_stats_never_hold_the_api_key(courier_emulator: RunningEmulator) -> None:
    key = courier_emulator.api_key
    call(courier_emulator.base_url, f"/brands/{key}", {"status": key, "enqueued_after": key}, key=key)
    stats = json.dumps(courier_emulator.stats())
    assert key not in stats
    assert courier_emulator.stats()["filters"]["status"] == ["[REDACTED]"]


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
    with cli("--port", "0", "--workspace", "none", "--messages", "12", *args) as process:
        line = first_line(process)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+\n", line)
        base_url = line.strip()

        first = call(base_url, "/messages", key=key).body
        assert [r["id"] for r in first["results"]] == FIRST_TEN_IDS
        second = call(base_url, "/messages", {"cursor": first["paging"]["cursor"]}, key=key).body
        assert [r["id"] for r in second["results"]] == [message(10)["id"], message(11)["id"]]
        assert call(base_url, "/messages", key="wrong").status == 403

        process.send_signal(stop_signal)
        stdout, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
        assert (stdout, stderr) == ("", "")


def test_cli_takes_the_log_shape_from_its_flags() -> None:
    with cli(
        "--port", "0", "--workspace", "none", "--messages", "2", "--anchor-ms", "5000", "--spacing-ms", "1000"
    ) as process:
        base_url = first_line(process).strip()
        body = call(base_url, "/messages", key=DEMO_API_KEY).body
        assert [(r["id"], r["enqueued"]) for r in body["results"]] == [
            (message(0, anchor_ms=5000, spacing_ms=1000)["id"], 5000),
            (message(1, anchor_ms=5000, spacing_ms=1000)["id"], 4000),
        ]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_cli_refuses_a_non_loopback_host(host: str) -> None:
    with cli("--port", "0", "--workspace", "none", "--host", host) as process:
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 2
    assert stdout == ""
    assert "loopback only: 127.0.0.1, ::1, localhost" in stderr


def test_cli_flags_default_to_a_small_workspace_and_no_faults() -> None:
    args = build_parser().parse_args([])

    assert (args.workspace, args.status_window_ms) == ("small", 86_400_000)
    assert fault_plan(args).to_json() == {
        "faults": [],
        "max_in_a_row": 2,
        "seed": 0,
        "latency_ms": 0,
        "retry_after": 1,
        "slow_seconds": 65.0,
        "retry_after_on_errors": False,
    }


def test_cli_fault_flags_build_the_fault_plan() -> None:
    args = build_parser().parse_args(
        [
            "--workspace",
            "demo",
            "--status-window-ms",
            "3600000",
            "--fault",
            "429-seconds:0.3",
            "--fault",
            "503:0.2",
            "--fault",
            "drop:0.1",
            "--fault",
            "slow:0.4:/messages/",
            "--max-faults-in-a-row",
            "4",
            "--latency-ms",
            "25",
            "--fault-seed",
            "7",
            "--retry-after",
            "3",
            "--slow-seconds",
            "1.5",
        ]
    )

    assert (args.workspace, args.status_window_ms) == ("demo", 3_600_000)
    assert fault_plan(args).to_json() == {
        "faults": [
            {"kind": "429-seconds", "rate": 0.3, "path_prefix": ""},
            {"kind": "503", "rate": 0.2, "path_prefix": ""},
            {"kind": "drop", "rate": 0.1, "path_prefix": ""},
            {"kind": "slow", "rate": 0.4, "path_prefix": "/messages/"},
        ],
        "max_in_a_row": 4,
        "seed": 7,
        "latency_ms": 25,
        "retry_after": 3,
        "slow_seconds": 1.5,
        "retry_after_on_errors": False,
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--fault", "teapot"],
        ["--fault", "503:1.5"],
        ["--fault", "503:often"],
        ["--max-faults-in-a-row", "0"],
        ["--latency-ms", "-1"],
        ["--slow-seconds", "-2"],
        ["--workspace", "huge"],
        ["--status-window-ms", "-1"],
    ],
)
def test_cli_rejects_bad_fault_and_workspace_flags(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(args)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_cli_rejects_fault_rates_adding_up_to_more_than_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--workspace", "none", "--fault", "503:0.6", "--fault", "500:0.5"])
    assert exit_info.value.code == 2
    assert "add up to more than 1" in capsys.readouterr().err


def test_cli_serves_the_faults_its_flags_ask_for() -> None:
    with cli(
        "--port",
        "0",
        "--workspace",
        "none",
        "--fault",
        "429-seconds",
        "--retry-after",
        "2",
        "--max-faults-in-a-row",
        "1",
    ) as process:
        base_url = first_line(process).strip()
        first = call(base_url, "/messages", key=DEMO_API_KEY)
        second = call(base_url, "/messages", key=DEMO_API_KEY)
        assert (first.status, first.headers["Retry-After"]) == (429, "2")
        assert second.status == 200
        assert call(base_url, "/__admin/stats", key=None).body["faults"] == {"429-seconds": 1}


def test_cli_serves_the_small_workspace_by_default() -> None:
    pytest.importorskip("courier_emulator.workspace")
    with cli("--port", "0") as process:
        base_url = first_line(process).strip()
        brands = call(base_url, "/brands", key=DEMO_API_KEY)
        assert brands.status == 200
        assert isinstance(brands.body["results"], list) and brands.body["results"]
        assert call(base_url, "/messages", key=DEMO_API_KEY).status == 200
        assert call(base_url, "/__admin/stats", key=None).body["requests"] == {"GET /brands": 1, "GET /messages": 1}


def test_run_in_thread_loads_a_workspace_by_size_name() -> None:
    workspace_module = pytest.importorskip("courier_emulator.workspace")
    with run_in_thread(workspace="small") as emulator:
        assert isinstance(emulator.workspace, workspace_module.Workspace)
        assert get(emulator, "/brands").status == 200


# --- readings: where Courier's docs and the live API disagree (courier_emulator.readings) ---------------------


@pytest.mark.parametrize("limit", ["100", "3", "0", "1000", "abc", ""])
def test_by_default_messages_accepts_any_limit_serves_ten_a_page_and_records_it(
    courier_emulator: RunningEmulator, limit: str
) -> None:
    response = messages(courier_emulator, limit=limit)

    assert response.status == 200
    assert [r["id"] for r in response.body["results"]] == FIRST_TEN_IDS
    assert response.body["paging"] == {"cursor": cursor_of(message(9)), "more": True}
    assert courier_emulator.requests()[0]["query"] == {"limit": limit}


def test_an_honoured_limit_sets_the_page_size_and_cursors_hold_across_page_sizes(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(messages=250, honour_messages_limit=True)

    page_100 = messages(emulator, limit="100").body
    assert [r["id"] for r in page_100["results"]] == [message(i)["id"] for i in range(100)]
    assert page_100["paging"] == {"cursor": cursor_of(message(99)), "more": True}
    cursor = page_100["paging"]["cursor"]
    # A cursor names a message, not a page: it reads on at any page size, the default 10 included.
    assert [r["id"] for r in messages(emulator, cursor=cursor).body["results"]] == [
        message(i)["id"] for i in range(100, 110)
    ]
    assert [r["id"] for r in messages(emulator, cursor=cursor, limit="3").body["results"]] == [
        message(i)["id"] for i in range(100, 103)
    ]
    rest = messages(emulator, cursor=cursor, limit="100").body
    assert rest["paging"] == {"cursor": cursor_of(message(199)), "more": True}
    last = messages(emulator, cursor=rest["paging"]["cursor"], limit="100").body
    assert len(last["results"]) == 50 and last["paging"] == {"cursor": None, "more": False}
    # Mixed page sizes over one walk still give every message once, newest first.
    seen, cursor, sizes = [], None, iter(["1", "100", "7", "", "55", "100", "100"])
    while True:
        params = {"limit": next(sizes)} | ({"cursor": cursor} if cursor else {})
        body = messages(emulator, **params).body
        seen += [r["id"] for r in body["results"]]
        if not body["paging"]["more"]:
            break
        cursor = body["paging"]["cursor"]
    assert seen == list(MessageLog(250).ids())


def test_an_honoured_limit_works_with_the_filters(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(honour_messages_limit=True)
    body = messages(emulator, limit="2", status="UNDELIVERABLE,DIGESTED").body
    assert [r["id"] for r in body["results"]] == [message(5)["id"], message(6)["id"]]
    assert body["paging"] == {"cursor": cursor_of(message(6)), "more": True}
    assert len(messages(emulator, limit="100", enqueued_after=str(message(14)["enqueued"])).body["results"]) == 15


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "1e2"])
def test_an_honoured_limit_outside_1_to_100_is_a_400(courier_emulator_factory: Any, limit: str) -> None:
    response = messages(courier_emulator_factory(honour_messages_limit=True), limit=limit)
    assert response.status == 400
    assert response.body["type"] == "invalid_request_error" and "limit" in response.body["message"]


def test_an_ignored_enqueued_after_is_recorded_but_returns_the_whole_log(courier_emulator_factory: Any) -> None:
    emulator = courier_emulator_factory(apply_enqueued_after=False)
    newest_plus_one = str(message(0)["enqueued"] + 1)  # applied, nothing would be returned

    pages = walk(emulator, enqueued_after=newest_plus_one)
    malformed = messages(emulator, enqueued_after="yesterday")  # neither parsed nor applied

    assert [r["id"] for page in pages for r in page["results"]] == list(MessageLog(25).ids())
    assert [len(page["results"]) for page in pages] == [10, 10, 5]
    assert (malformed.status, [r["id"] for r in malformed.body["results"]]) == (200, FIRST_TEN_IDS)
    assert emulator.stats()["filters"]["enqueued_after"] == [newest_plus_one] * 3 + ["yesterday"]
    assert emulator.requests()[1]["query"] == {"enqueued_after": newest_plus_one, "cursor": cursor_of(message(9))}


def test_admin_readings_show_and_replace_the_readings(courier_emulator: RunningEmulator) -> None:
    defaults = {"auth_failure_status": 403, "honour_messages_limit": False, "apply_enqueued_after": True}
    assert admin(courier_emulator, "GET", "readings").body == defaults
    assert courier_emulator.readings.to_json() == defaults
    assert call(courier_emulator.base_url, "/messages", key="wrong").status == 403

    changed = {"auth_failure_status": 401, "honour_messages_limit": True, "apply_enqueued_after": False}
    assert admin(courier_emulator, "POST", "readings", changed).body == changed
    assert call(courier_emulator.base_url, "/messages", key="wrong").body == UNAUTHORIZED
    assert len(messages(courier_emulator, limit="2", enqueued_after="yesterday").body["results"]) == 2
    # Neither a new fault plan nor a reset touches them; a missing key takes its default.
    courier_emulator.set_faults([])
    admin(courier_emulator, "POST", "reset")
    assert admin(courier_emulator, "GET", "readings").body == changed
    assert admin(courier_emulator, "POST", "readings", {"honour_messages_limit": True}).body == (
        defaults | {"honour_messages_limit": True}
    )
    assert courier_emulator.set_readings(auth_failure_status=401) == defaults | {"auth_failure_status": 401}
    assert call(courier_emulator.base_url, "/messages", key="wrong").status == 401


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ({"auth_failure_status": 400}, "auth_failure_status must be 401 or 403"),
        ({"auth_failure_status": "401"}, "auth_failure_status must be 401 or 403"),
        ({"auth_failure_status": 403.0}, "auth_failure_status must be 401 or 403"),
        ({"honour_messages_limit": "yes"}, "honour_messages_limit must be true or false"),
        ({"apply_enqueued_after": 0}, "apply_enqueued_after must be true or false"),
        ({"colour": "red"}, "unknown keys: colour"),
        ([], "the body must be a JSON object"),
    ],
)
def test_admin_readings_reject_an_invalid_body_and_keep_the_old_ones(
    courier_emulator: RunningEmulator, body: Any, message_part: str
) -> None:
    courier_emulator.set_readings(auth_failure_status=401)
    response = admin(courier_emulator, "POST", "readings", body)
    assert response.status == 400 and response.body["type"] == "invalid_request_error"
    assert message_part in response.body["message"]
    assert courier_emulator.readings.auth_failure_status == 401
    assert admin(courier_emulator, "PUT", "readings").status == 405


def test_run_in_thread_refuses_bad_readings() -> None:
    with pytest.raises(ValueError, match="auth_failure_status must be 401 or 403"):
        run_in_thread(auth_failure_status=404)
    with pytest.raises(ValueError, match="honour_messages_limit must be true or false"):
        run_in_thread(honour_messages_limit="honoured")


def test_cli_reading_flags_default_to_the_live_readings_and_help_documents_them() -> None:
    from courier_emulator.__main__ import reading_options

    assert reading_options(build_parser().parse_args([])) == {
        "auth_failure_status": 403,
        "honour_messages_limit": False,
        "apply_enqueued_after": True,
    }
    args = ["--auth-failure-status", "401", "--messages-limit", "honoured", "--ignore-enqueued-after"]
    assert reading_options(build_parser().parse_args(args)) == {
        "auth_failure_status": 401,
        "honour_messages_limit": True,
        "apply_enqueued_after": False,
    }
    help_text = " ".join(build_parser().format_help().split())
    for flag in ("--auth-failure-status {401,403}", "--messages-limit {ignored,honoured}", "--ignore-enqueued-after"):
        assert flag in help_text


@pytest.mark.parametrize("args", [["--auth-failure-status", "404"], ["--messages-limit", "sometimes"]])
def test_cli_rejects_bad_reading_flags(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(args)
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_serves_the_readings_its_flags_ask_for() -> None:
    flags = ["--auth-failure-status", "401", "--messages-limit", "honoured", "--ignore-enqueued-after"]
    with cli("--port", "0", "--workspace", "none", *flags) as process:
        base_url = first_line(process).strip()
        assert call(base_url, "/messages", key=None).body == UNAUTHORIZED
        body = call(base_url, "/messages", {"limit": "25", "enqueued_after": "9999999999999"}, key=DEMO_API_KEY).body
        assert len(body["results"]) == 25 and body["paging"]["more"] is False
        assert call(base_url, "/__admin/readings", key=None).body == {
            "auth_failure_status": 401,
            "honour_messages_limit": True,
            "apply_enqueued_after": False,
        }


# --- journey versions and templates, notification versions, digest instances ----------------------------------


@pytest.fixture
def small(courier_emulator_factory: Any) -> RunningEmulator:
    return courier_emulator_factory(workspace="small")


def walk_a(emulator: RunningEmulator, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    """Every page of a paging-A list, following ``paging.cursor``."""
    pages = [get(emulator, path, **params).body]
    while pages[-1]["paging"]["more"]:
        pages.append(get(emulator, path, **params, cursor=pages[-1]["paging"]["cursor"]).body)
    assert pages[-1]["paging"] == {"cursor": None, "more": False}
    return pages


def test_journey_versions_page_most_recent_first_with_a_working_cursor(small: RunningEmulator) -> None:
    journeys = small.workspace.automation_templates["journeys"]  # type: ignore[attr-defined]
    by_journey = {j["id"]: walk_a(small, f"/journeys/{j['id']}/versions", "results") for j in journeys}
    versions = {j: [v["version"] for page in pages for v in page["results"]] for j, pages in by_journey.items()}
    sizes = {j: [len(page["results"]) for page in pages] for j, pages in by_journey.items()}

    assert list(versions.values()) == [["v3", "v2", "v1"], ["v1"], ["v2", "v1"], []]  # the last: draft only
    assert list(sizes.values()) == [[2, 1], [1], [2], [0]]
    for pages in by_journey.values():
        created = [v["created"] for page in pages for v in page["results"]]
        assert created == sorted(created, reverse=True)
        assert all(v["published"] >= v["created"] and v["name"] for page in pages for v in page["results"])
    assert get(small, "/journeys/no-such-journey/versions").status == 404
    assert get(small, "/journeys/no-such-journey/versions").body == NOT_FOUND
    other = encode_workspace_cursor(f"/journeys/{journeys[1]['id']}/versions", "v1")
    assert get(small, f"/journeys/{journeys[0]['id']}/versions", cursor=other).status == 400
    assert small.stats()["requests"]["GET /journeys/{id}/versions"] == 8


def encode_workspace_cursor(route: str, key: str) -> str:
    return base64.b64encode(f"{route}\n>\n{key}".encode()).decode()


def test_journey_templates_page_with_limit(small: RunningEmulator) -> None:
    journey = small.workspace.automation_templates["journeys"][2]["id"]  # type: ignore[attr-defined]
    path = f"/journeys/{journey}/templates"
    default = walk_a(small, path, "results")
    one_by_one = walk_a(small, path, "results", limit="1")

    assert [len(page["results"]) for page in default] == [2, 1]
    assert [len(page["results"]) for page in one_by_one] == [1, 1, 1]
    assert [t for page in one_by_one for t in page["results"]] == [t for page in default for t in page["results"]]
    assert all(t["id"].startswith("nt_") for page in default for t in page["results"])
    assert len(get(small, path, limit="100").body["results"]) == 3
    for bad in ("0", "101", "x"):
        assert get(small, path, limit=bad).status == 400
    assert get(small, "/journeys/no-such-journey/templates").status == 404


def test_notification_versions_draft_first_then_published_with_limit_up_to_10(small: RunningEmulator) -> None:
    template_id = "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4"  # the message log's "welcome" template
    pages = walk_a(small, f"/notifications/{template_id}/versions", "versions", limit="2")
    versions = [v for page in pages for v in page["versions"]]

    assert [v["version"] for v in versions] == ["draft", "published:v003", "v002", "v001"]
    assert [len(page["versions"]) for page in pages] == [2, 2]
    assert "has_changes" in versions[0] and all("has_changes" not in v for v in versions[1:])
    assert [v["created"] for v in versions] == sorted((v["created"] for v in versions), reverse=True)
    assert get(small, f"/notifications/{template_id}/versions").body["versions"] == versions
    assert get(small, f"/notifications/{template_id}/versions", limit="10").status == 200
    for bad in ("11", "100", "0"):
        assert get(small, f"/notifications/{template_id}/versions", limit=bad).status == 400
    assert get(small, "/notifications/NOPE/versions").status == 404


def digest_schedules(emulator: RunningEmulator, path: str = "/preferences/sections") -> dict[str, list[str]]:
    """Schedule id -> the names of the topics whose digest names it, as the API shows them."""
    named: dict[str, list[str]] = {}
    for section in get(emulator, path).body["results"]:
        for topic in section["topics"]:
            for schedule in topic.get("digest", {}).get("schedules", []):
                named.setdefault(schedule["schedule_id"], []).append(topic["name"])
    return named


def test_topics_name_digest_schedules_one_shared_and_legacy(small: RunningEmulator) -> None:
    named = digest_schedules(small)
    legacy = [s for s in named if s.startswith("sch/")]

    assert sorted(named.values()) == [["Billing"], ["Billing", "Product updates"], ["Product updates"]]
    assert len(legacy) == 1 and named[legacy[0]] == ["Billing", "Product updates"]
    assert re.fullmatch(f"sch/{UUID_LIKE}", legacy[0])
    assert all(re.fullmatch(r"sch_01[0-9a-hjkmnp-tv-z]{24}", s) for s in named if s not in legacy)
    # The topics routes show the same digests as the sections.
    section = get(small, "/preferences/sections").body["results"][0]
    assert get(small, f"/preferences/sections/{section['id']}/topics").body["results"] == section["topics"]


def test_digest_instances_of_a_legacy_schedule_are_read_percent_encoded_and_page_by_next_url(
    small: RunningEmulator,
) -> None:
    legacy = next(s for s in digest_schedules(small) if s.startswith("sch/"))
    small.reset()
    encoded = legacy.replace("/", "%2F")
    path = f"/digests/schedules/{encoded}/instances"

    pages = [get(small, path, limit="2").body]
    while pages[-1]["has_more"]:
        pages.append(call(small.base_url, pages[-1]["next_url"], key=small.api_key).body)  # next_url verbatim
    whole = get(small, path).body

    assert [len(page["items"]) for page in pages] == [2, 2]
    assert pages[0]["url"] == f"{path}?limit=2"
    assert pages[0]["next_url"].startswith(f"{path}?cursor=")
    assert pages[-1]["cursor"] is None and pages[-1]["next_url"] is None and pages[-1]["type"] == "list"
    items = [item for page in pages for item in page["items"]]
    assert items == whole["items"] and whole["has_more"] is False and whole["url"] == path
    assert len({item["user_id"] for item in items}) == len(items)  # one per user
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)
    assert all(item["event_count"] == sum(item["category_key_counts"].values()) for item in items)
    assert {entry["path"] for entry in small.requests()} == {path}  # recorded as sent, still encoded
    assert small.stats()["requests"] == {"GET /digests/schedules/{id}/instances": 3}


def test_digest_instances_unknown_unencoded_or_bad_limit(small: RunningEmulator) -> None:
    named = digest_schedules(small)
    legacy = next(s for s in named if s.startswith("sch/"))
    current = next(s for s in named if s.startswith("sch_"))

    assert get(small, f"/digests/schedules/{current}/instances").status == 200
    assert get(small, f"/digests/schedules/{legacy}/instances").body == NOT_FOUND  # "/" unencoded: no route
    assert get(small, "/digests/schedules/sch_01nosuchschedule/instances").status == 404
    assert get(small, "/digests/schedules/sch%2Fnot-a-schedule/instances").status == 404
    assert get(small, "/digests/schedules/sch%252F" + legacy[4:] + "/instances").status == 404  # encoded twice
    assert get(small, f"/digests/schedules/{current}/instances", limit="101").status == 400
    assert get(small, f"/digests/schedules/{current}/instances", limit="0").status == 400


def test_the_demo_workspace_has_more_digests_a_disabled_schedule_without_instances(
    courier_emulator_factory: Any,
) -> None:
    demo = courier_emulator_factory(workspace="demo")
    named = digest_schedules(demo)
    assert sum(len(topics) > 1 for topics in named.values()) == 1
    assert sum(s.startswith("sch/") for s in named) == 2
    sections = get(demo, "/preferences/sections").body["results"]
    schedules = {
        s["schedule_id"]: s for x in sections for t in x["topics"] for s in t.get("digest", {}).get("schedules", [])
    }
    disabled = [s for s in schedules.values() if s["disabled"]]
    assert len(disabled) == 1 and "frequency" not in disabled[0]
    for schedule_id, schedule in schedules.items():
        body = get(demo, f"/digests/schedules/{schedule_id.replace('/', '%2F')}/instances", limit="100").body
        assert (len(body["items"]) == 0) == schedule["disabled"]
