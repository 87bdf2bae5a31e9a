"""Fault injection in the Courier emulator (``courier_emulator.faults``): what each fault kind sends, the
``max_in_a_row`` rule that makes retries testable, deterministic rates, latency, and the admin API.

Every kind is checked on its first request (exact status, headers, body) and on the request after
``max_in_a_row`` consecutive faults on the same URL, which must be the normal response.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from courier_emulator import FaultPlan, message
from courier_emulator.server import RunningEmulator

PAGE_1_CURSOR = base64.b64encode(f"{message(9)['enqueued']},{message(9)['id']}".encode()).decode()
PAGE_2_CURSOR = base64.b64encode(f"{message(19)['enqueued']},{message(19)['id']}".encode()).decode()
HEAD_CURSOR = base64.b64encode(f"{message(-1)['enqueued']},{message(-1)['id']}".encode()).decode()
HTTP_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


@dataclass
class Raw:
    status: int
    headers: dict[str, str]
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


def fetch(
    emulator: RunningEmulator, path: str, params: dict[str, str] | None = None, *, timeout: float = 10, key: bool = True
) -> Raw:
    """One request on a fresh connection, with the raw status, headers and body bytes."""
    connection = http.client.HTTPConnection(urlsplit(emulator.base_url).netloc, timeout=timeout)
    try:
        url = path + (f"?{urlencode(params)}" if params else "")
        connection.request("GET", url, headers={"Authorization": f"Bearer {emulator.api_key}"} if key else {})
        reply = connection.getresponse()
        return Raw(reply.status, dict(reply.getheaders()), reply.read())
    finally:
        connection.close()


def admin(emulator: RunningEmulator, method: str, name: str, body: Any = None) -> Raw:
    connection = http.client.HTTPConnection(urlsplit(emulator.base_url).netloc, timeout=10)
    try:
        payload = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, f"/__admin/{name}", body=payload if method == "POST" else None)
        reply = connection.getresponse()
        return Raw(reply.status, dict(reply.getheaders()), reply.read())
    finally:
        connection.close()


def normal_page_1() -> dict[str, Any]:
    return {"paging": {"cursor": PAGE_1_CURSOR, "more": True}, "results": [message(i) for i in range(10)]}


def assert_normal_page_1(raw: Raw) -> None:
    assert raw.status == 200
    assert raw.headers["Content-Type"] == "application/json"
    assert raw.json() == normal_page_1()


# --- each kind, first request and after max_in_a_row --------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "message_text", "error_type"),
    [
        ("429-seconds", 429, "Too Many Requests", "rate_limit_error"),
        ("429-none", 429, "Too Many Requests", "rate_limit_error"),
        ("500", 500, "Internal Server Error", "api_error"),
        ("502", 502, "Bad Gateway", "api_error"),
        ("503", 503, "Service Unavailable", "api_error"),
    ],
)
def test_error_faults_send_courier_error_bodies_then_the_normal_page_after_max_in_a_row(
    courier_emulator: RunningEmulator, kind: str, status: int, message_text: str, error_type: str
) -> None:
    courier_emulator.set_faults([kind], max_in_a_row=2, retry_after=3)

    first, second, third = (fetch(courier_emulator, "/messages") for _ in range(3))

    for faulted in (first, second):
        assert faulted.status == status
        assert faulted.headers["Content-Type"] == "application/json"
        assert faulted.json() == {"message": message_text, "type": error_type}
        assert faulted.headers.get("Retry-After") == ("3" if kind == "429-seconds" else None)
    assert_normal_page_1(third)
    assert courier_emulator.stats()["faults"] == {kind: 2}


def test_429_http_date_announces_retry_after_seconds_from_now_as_an_http_date(
    courier_emulator: RunningEmulator,
) -> None:
    courier_emulator.set_faults(["429-http-date"], max_in_a_row=1, retry_after=5)

    before = time.time()
    first = fetch(courier_emulator, "/messages")
    after = time.time()
    second = fetch(courier_emulator, "/messages")

    assert first.status == 429
    assert first.json() == {"message": "Too Many Requests", "type": "rate_limit_error"}
    assert HTTP_DATE.fullmatch(first.headers["Retry-After"])
    retry_at = email.utils.parsedate_to_datetime(first.headers["Retry-After"]).timestamp()
    assert before + 5 <= retry_at <= after + 6  # whole seconds: the next second plus retry_after
    assert_normal_page_1(second)


def test_drop_closes_the_connection_without_any_response(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["drop"], max_in_a_row=2)

    for _ in range(2):
        with pytest.raises(http.client.RemoteDisconnected):
            fetch(courier_emulator, "/messages")
    assert_normal_page_1(fetch(courier_emulator, "/messages"))
    assert courier_emulator.stats()["faults"] == {"drop": 2}


def test_slow_answers_normally_after_slow_seconds(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["slow"], max_in_a_row=1, slow_seconds=0.4)

    started = time.monotonic()
    slow = fetch(courier_emulator, "/messages")
    slow_elapsed = time.monotonic() - started
    started = time.monotonic()
    fast = fetch(courier_emulator, "/messages")
    fast_elapsed = time.monotonic() - started

    assert_normal_page_1(slow)
    assert_normal_page_1(fast)
    assert slow_elapsed >= 0.4
    assert fast_elapsed < 0.3


def test_slow_outlasts_a_client_read_timeout_shorter_than_slow_seconds(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["slow"], max_in_a_row=1, slow_seconds=1.0)

    with pytest.raises(socket.timeout):
        fetch(courier_emulator, "/messages", timeout=0.2)
    assert_normal_page_1(fetch(courier_emulator, "/messages", timeout=0.5))


def test_malformed_json_is_a_200_json_response_cut_short(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["malformed-json"], max_in_a_row=2)

    first = fetch(courier_emulator, "/messages")

    assert first.status == 200
    assert first.headers["Content-Type"] == "application/json"
    assert int(first.headers["Content-Length"]) == len(first.payload) > 0
    full = json.dumps(normal_page_1()).encode()
    assert first.payload == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        first.json()
    fetch(courier_emulator, "/messages")
    assert_normal_page_1(fetch(courier_emulator, "/messages"))


@pytest.mark.parametrize(
    ("kind", "status", "marker"), [("html-200", 200, "<!DOCTYPE html>"), ("html-502", 502, "<html>")]
)
def test_html_faults_send_an_html_page(courier_emulator: RunningEmulator, kind: str, status: int, marker: str) -> None:
    courier_emulator.set_faults([kind], max_in_a_row=1)

    first = fetch(courier_emulator, "/messages")

    assert first.status == status
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    text = first.payload.decode()
    assert text.startswith(marker)
    assert ("502 Bad Gateway" in text) == (status == 502)
    assert_normal_page_1(fetch(courier_emulator, "/messages"))


def test_no_envelope_is_a_200_json_body_without_the_records_key(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["no-envelope"], max_in_a_row=1)

    first = fetch(courier_emulator, "/messages")
    history = fetch(courier_emulator, f"/messages/{message(0)['id']}/history")
    retrieve = fetch(courier_emulator, f"/messages/{message(0)['id']}")

    assert (first.status, first.json()) == (200, {"paging": {"cursor": PAGE_1_CURSOR, "more": True}})
    assert (history.status, history.json()) == (200, {})
    assert retrieve.json()["providers"]  # a single object is not an envelope: served normally
    assert courier_emulator.stats()["faults"] == {"no-envelope": 2}
    assert_normal_page_1(fetch(courier_emulator, "/messages"))


def test_repeat_cursor_returns_the_requests_own_cursor_as_the_next_one(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["repeat-cursor"], max_in_a_row=2)

    page_2 = [fetch(courier_emulator, "/messages", {"cursor": PAGE_1_CURSOR}).json() for _ in range(3)]

    expected_results = [message(i) for i in range(10, 20)]
    for faulted in page_2[:2]:
        assert faulted == {"paging": {"cursor": PAGE_1_CURSOR, "more": True}, "results": expected_results}
    assert page_2[2] == {"paging": {"cursor": PAGE_2_CURSOR, "more": True}, "results": expected_results}


def test_repeat_cursor_on_page_1_returns_a_cursor_that_reads_page_1_again(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["repeat-cursor"], max_in_a_row=1)

    first = fetch(courier_emulator, "/messages").json()
    courier_emulator.set_faults([])
    again = fetch(courier_emulator, "/messages", {"cursor": first["paging"]["cursor"]}).json()

    assert first == {"paging": {"cursor": HEAD_CURSOR, "more": True}, "results": [message(i) for i in range(10)]}
    assert again == normal_page_1()


def test_repeat_cursor_on_a_last_page_forces_more(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["repeat-cursor"], max_in_a_row=1)

    last = fetch(courier_emulator, "/messages", {"cursor": PAGE_2_CURSOR}).json()

    assert last == {"paging": {"cursor": PAGE_2_CURSOR, "more": True}, "results": [message(i) for i in range(20, 25)]}


def test_null_cursor_changes_only_the_last_page_to_more_true_with_a_null_cursor(
    courier_emulator: RunningEmulator,
) -> None:
    courier_emulator.set_faults(["null-cursor"], max_in_a_row=1)

    page_1 = fetch(courier_emulator, "/messages")
    page_2 = fetch(courier_emulator, "/messages", {"cursor": PAGE_1_CURSOR}).json()
    last = fetch(courier_emulator, "/messages", {"cursor": PAGE_2_CURSOR}).json()
    last_again = fetch(courier_emulator, "/messages", {"cursor": PAGE_2_CURSOR}).json()

    assert_normal_page_1(page_1)
    assert page_2["paging"] == {"cursor": PAGE_2_CURSOR, "more": True}
    assert last == {"paging": {"cursor": None, "more": True}, "results": [message(i) for i in range(20, 25)]}
    assert last_again["paging"] == {"cursor": None, "more": False}
    assert courier_emulator.stats()["faults"] == {"null-cursor": 1}  # pages 1 and 2 were not faulted


# --- the max_in_a_row rule, rates, prefixes, latency --------------------------------------------------


def test_faults_never_repeat_more_than_max_in_a_row_times_per_url(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["503"], max_in_a_row=3)

    statuses = []
    for _ in range(8):
        statuses.append(fetch(courier_emulator, "/messages").status)
        fetch(courier_emulator, "/messages", {"cursor": PAGE_1_CURSOR})  # another URL: its own count

    assert statuses == [503, 503, 503, 200, 503, 503, 503, 200]


def test_the_full_query_string_is_part_of_the_url(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["503"], max_in_a_row=1)

    assert [
        fetch(courier_emulator, "/messages", {"status": status}).status for status in ("SENT", "SENT", "OPENED")
    ] == [
        503,
        200,
        503,
    ]


def test_a_huge_max_in_a_row_with_rate_1_faults_without_end(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["502"], max_in_a_row=10**9)
    assert {fetch(courier_emulator, "/messages").status for _ in range(20)} == {502}


def outcomes(plan: FaultPlan, urls: list[str]) -> list[str | None]:
    return [plan.decide(url, "/messages", lambda kind: True) for url in urls]


def test_fault_draws_are_deterministic_for_a_seed_and_keep_the_rate() -> None:
    urls = [f"/messages?enqueued_after={n}" for n in range(2000)]

    first = outcomes(FaultPlan(["503:0.3"], seed=7), urls)
    again = outcomes(FaultPlan(["503:0.3"], seed=7), urls)
    other_seed = outcomes(FaultPlan(["503:0.3"], seed=8), urls)

    assert first == again
    assert first != other_seed
    assert 0.25 < first.count("503") / len(urls) < 0.35


def test_fault_draws_for_a_url_do_not_depend_on_requests_to_other_urls() -> None:
    urls = [f"/messages?enqueued_after={n}" for n in range(200)]
    alone = outcomes(FaultPlan(["429-seconds:0.5"], seed=3, max_in_a_row=10**9), urls)
    plan = FaultPlan(["429-seconds:0.5"], seed=3, max_in_a_row=10**9)
    interleaved = []
    for url in urls:
        plan.decide("/brands", "/brands", lambda kind: True)
        interleaved.append(plan.decide(url, "/messages", lambda kind: True))
    assert interleaved == alone


def test_rates_of_several_kinds_partition_the_requests() -> None:
    urls = [f"/messages?cursor={n}" for n in range(1000)]
    drawn = outcomes(FaultPlan(["503:0.5", "500:0.5"], seed=1), urls)
    assert None not in drawn
    assert 400 < drawn.count("503") < 600
    assert drawn.count("503") + drawn.count("500") == 1000


def test_rate_determinism_over_http(courier_emulator_factory: Any) -> None:
    runs = []
    for _ in range(2):
        emulator = courier_emulator_factory(faults=FaultPlan(["503:0.3"], seed=11))
        runs.append([fetch(emulator, "/messages", {"enqueued_after": str(n)}).status for n in range(60)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


def test_a_path_prefix_limits_a_fault_to_matching_paths(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults([{"kind": "503", "rate": 1.0, "path_prefix": "/messages/"}], max_in_a_row=5)

    assert fetch(courier_emulator, "/messages").status == 200
    assert fetch(courier_emulator, f"/messages/{message(0)['id']}/history").status == 503


def test_faults_apply_to_workspace_routes_and_unauthorized_requests(courier_emulator_factory: Any) -> None:
    class Workspace:
        def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, object] | None:
            return (200, {"paging": {"more": False, "cursor": None}, "results": []}) if path == "/brands" else None

    emulator = courier_emulator_factory(workspace=Workspace())
    emulator.set_faults(["503"], max_in_a_row=1)

    assert fetch(emulator, "/brands").status == 503
    assert fetch(emulator, "/brands").status == 200
    assert fetch(emulator, "/messages", key=False).status == 503
    assert fetch(emulator, "/messages", key=False).status == 403
    assert emulator.stats()["requests"] == {"GET /brands": 2, "GET /messages": 2}


def test_repeat_cursor_on_a_paging_b_workspace_list(courier_emulator_factory: Any) -> None:
    class Workspace:
        def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, object] | None:
            cursor = query.get("cursor", [None])[-1]
            return 200, {
                "items": [{"id": "tenant-2" if cursor else "tenant-1"}],
                "has_more": not cursor,
                "cursor": None if cursor else "c2",
                "next_url": None if cursor else "/tenants?limit=1&cursor=c2",
                "url": "/tenants",
                "type": "list",
            }

    emulator = courier_emulator_factory(workspace=Workspace())
    emulator.set_faults(["repeat-cursor"], max_in_a_row=1)

    page_1 = fetch(emulator, "/tenants", {"limit": "1"}).json()  # no cursor to repeat: served normally
    page_2 = fetch(emulator, "/tenants", {"limit": "1", "cursor": "c2"}).json()

    assert page_1["cursor"] == "c2"
    assert page_2 == {
        "items": [{"id": "tenant-2"}],
        "has_more": True,
        "cursor": "c2",
        "next_url": "/tenants?cursor=c2",
        "url": "/tenants",
        "type": "list",
    }
    assert emulator.stats()["faults"] == {"repeat-cursor": 1}


def test_latency_delays_every_non_admin_request(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults([], latency_ms=250)

    started = time.monotonic()
    assert_normal_page_1(fetch(courier_emulator, "/messages"))
    api_elapsed = time.monotonic() - started
    started = time.monotonic()
    admin(courier_emulator, "GET", "stats")
    admin_elapsed = time.monotonic() - started

    assert api_elapsed >= 0.25
    assert admin_elapsed < 0.2


# --- the admin API -------------------------------------------------------------------------------------


def test_admin_faults_replaces_the_plan_and_reports_it(courier_emulator: RunningEmulator) -> None:
    plan = {
        "faults": [
            {"kind": "429-seconds", "rate": 0.3, "path_prefix": "/messages"},
            {"kind": "503", "rate": 0.2, "path_prefix": ""},
        ],
        "max_in_a_row": 3,
        "seed": 5,
        "latency_ms": 0,
        "retry_after": 2,
        "slow_seconds": 1.5,
        "retry_after_on_errors": False,
    }

    posted = admin(courier_emulator, "POST", "faults", plan)
    current = admin(courier_emulator, "GET", "faults")

    assert (posted.status, posted.json()) == (200, plan)
    assert current.json() == plan
    assert courier_emulator.faults.to_json() == plan


def test_admin_faults_defaults_and_clearing(courier_emulator: RunningEmulator) -> None:
    defaults = (
        FaultPlan().to_json()
    )  # its values are pinned by test_cli_flags_default_to_a_small_workspace_and_no_faults
    assert admin(courier_emulator, "GET", "faults").json() == defaults

    admin(courier_emulator, "POST", "faults", {"faults": [{"kind": "503"}]})
    assert fetch(courier_emulator, "/messages").status == 503
    assert admin(courier_emulator, "POST", "faults", {"faults": []}).json() == defaults
    assert fetch(courier_emulator, "/messages").status == 200


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ({"faults": [{"kind": "teapot"}]}, "unknown fault kind 'teapot'"),
        ({"faults": [{"kind": "503", "rate": 2}]}, "between 0 and 1"),
        ({"faults": [{"kind": "503", "rate": 0.7}, {"kind": "500", "rate": 0.7}]}, "add up to more than 1"),
        ({"faults": [{"rate": 0.5}]}, "needs a kind"),
        ({"faults": [{"kind": "503", "when": "always"}]}, "unknown fault keys: when"),
        ({"faults": "503"}, "faults must be a list"),
        ({"max_in_a_row": 0}, "max_in_a_row must be an integer >= 1"),
        ({"latency_ms": -5}, "latency_ms"),
        ({"slow_seconds": "long"}, "slow_seconds"),
        ({"colour": "red"}, "unknown keys: colour"),
        ([], "the body must be a JSON object"),
        (b"{not json", "not valid JSON"),
    ],
)
def test_admin_faults_rejects_an_invalid_plan_and_keeps_the_old_one(
    courier_emulator: RunningEmulator, body: Any, message_part: str
) -> None:
    courier_emulator.set_faults(["500:0.5"])

    response = admin(courier_emulator, "POST", "faults", body)

    assert response.status == 400
    assert response.json()["type"] == "invalid_request_error"
    assert message_part in response.json()["message"]
    assert courier_emulator.faults.to_json()["faults"] == [{"kind": "500", "rate": 0.5, "path_prefix": ""}]


def test_admin_endpoints_are_never_faulted_nor_counted(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["drop"], max_in_a_row=10**9, latency_ms=0)

    assert admin(courier_emulator, "GET", "requests").status == 200
    assert admin(courier_emulator, "GET", "stats").json()["requests"] == {}
    assert admin(courier_emulator, "POST", "advance", {"new_messages": 1}).status == 200


def test_setting_a_plan_restarts_the_per_url_counts(courier_emulator: RunningEmulator) -> None:
    courier_emulator.set_faults(["503"], max_in_a_row=2)
    assert fetch(courier_emulator, "/messages").status == 503
    courier_emulator.set_faults(["503"], max_in_a_row=2)
    assert [fetch(courier_emulator, "/messages").status for _ in range(3)] == [503, 503, 200]


@pytest.mark.parametrize(
    "kind, status, type_",
    [("401", 401, "authentication_error"), ("403", 403, "authorization_error")],
    ids=["401", "403"],
)
@pytest.mark.parametrize("auth_failure_status", [401, 403])
def test_auth_faults_answer_with_couriers_error_body(
    courier_emulator_factory, kind, status, type_, auth_failure_status
):
    emulator = courier_emulator_factory(workspace=None, auth_failure_status=auth_failure_status)
    emulator.set_faults([kind])

    response = fetch(emulator, "/messages")

    assert (response.status, response.json()) == (
        status,
        {"message": "Unauthorized" if status == 401 else "Forbidden", "type": type_},
    )


@pytest.mark.parametrize("kind", ["503", "html-200", "malformed-json", "no-envelope"])
def test_retry_after_on_errors_announces_the_wait_on_retried_faults(courier_emulator_factory, kind):
    emulator = courier_emulator_factory(workspace=None)
    emulator.set_faults([kind], retry_after=3, retry_after_on_errors=True)

    assert fetch(emulator, "/messages").headers["Retry-After"] == "3"


def test_retry_after_on_errors_is_off_by_default(courier_emulator_factory):
    emulator = courier_emulator_factory(workspace=None)
    emulator.set_faults(["503"])

    assert "Retry-After" not in fetch(emulator, "/messages").headers


def test_repeat_cursor_applies_to_journey_versions_which_document_no_cursor_parameter(courier_emulator_factory):
    emulator = courier_emulator_factory(workspace="small")
    journey_id = next(j for j, versions in emulator.workspace.journey_versions.items() if len(versions) == 3)
    path = f"/journeys/{journey_id}/versions"
    page_1 = fetch(emulator, path).json()
    cursor = page_1["paging"]["cursor"]
    emulator.set_faults(["repeat-cursor:1:/journeys/"], max_in_a_row=1)

    assert fetch(emulator, path).json() == page_1  # page 1: no cursor to repeat, served normally
    repeated = fetch(emulator, path, {"cursor": cursor}).json()
    normal = fetch(emulator, path, {"cursor": cursor}).json()

    assert repeated["paging"] == {"cursor": cursor, "more": True}  # a client without a guard loops
    assert [v["version"] for v in repeated["results"]] == ["v1"]
    assert normal == {"paging": {"cursor": None, "more": False}, "results": repeated["results"]}
    assert emulator.stats()["faults"] == {"repeat-cursor": 1}
