"""A parent stream's pages are fetched once per sync, however many selected streams read them (SharedPages)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests

from source_courier.components import _PageStore
from unit_tests.builders import (
    MESSAGE_CHILDREN,
    config,
    has_more_page,
    keys,
    message,
    page,
    paths,
    queries,
    sample,
    serve,
)

T0 = 1_767_225_600_000


def _two_pages_of_messages(api, children=tuple(MESSAGE_CHILDREN)):
    serve(api, "/messages", page([message("m3", T0 + 3), message("m2", T0 + 2)], cursor="c2"))
    serve(api, "/messages", page([message("m1", T0 + 1)]), cursor="c2")
    for message_id in ("m1", "m2", "m3"):
        for stream in children:
            serve(api, f"/messages/{message_id}/{MESSAGE_CHILDREN[stream]}", {"results": [sample(stream)]})


def test_messages_and_both_children_request_each_messages_page_once(api, run_read):
    _two_pages_of_messages(api)

    output = run_read(config(), streams=("messages", "message_history", "message_content"))

    assert queries(api, "/messages") == [{}, {"cursor": "c2"}]  # without sharing: 3 readers, 6 requests
    assert keys(output, "messages", "id") == [("m3",), ("m2",), ("m1",)]
    for stream in MESSAGE_CHILDREN:
        assert sorted(keys(output, stream, "message_id")) == [("m1",), ("m2",), ("m3",)]
    assert Counter(paths(api)) == {
        "/messages": 2,
        **{f"/messages/{m}/{endpoint}": 1 for m in ("m1", "m2", "m3") for endpoint in MESSAGE_CHILDREN.values()},
    }


def test_a_child_alone_still_reads_its_parent(api, run_read):
    _two_pages_of_messages(api, children=("message_history",))

    output = run_read(config(), streams=("message_history",))

    assert queries(api, "/messages") == [{}, {"cursor": "c2"}]
    assert sorted(keys(output, "message_history", "message_id")) == [("m1",), ("m2",), ("m3",)]


def test_pages_are_not_shared_between_syncs(api, run_read):
    _two_pages_of_messages(api, children=())

    run_read(config(), streams=("messages",))
    run_read(config(), streams=("messages",))

    assert queries(api, "/messages") == [{}, {"cursor": "c2"}, {}, {"cursor": "c2"}]


def test_tenants_are_requested_once_for_tenants_and_both_tenant_children(api, run_read):
    serve(api, "/tenants", has_more_page([{"id": "acme", "name": "Acme"}]), limit="100")
    serve(api, "/tenants/acme/users", has_more_page([], path="/tenants/acme/users"), limit="100")
    serve(api, "/tenants/acme/templates", has_more_page([], path="/tenants/acme/templates"), limit="100")

    output = run_read(config(), streams=("tenants", "tenant_users", "tenant_templates"))

    assert keys(output, "tenants", "id") == [("acme",)]
    assert paths(api).count("/tenants") == 1  # without sharing: 3


# --- the page store itself ---------------------------------------------------------------------------------


def _exchange(name: str) -> tuple[requests.PreparedRequest, requests.Response]:
    response = requests.Response()
    response._content = name.encode()
    return requests.PreparedRequest(), response


def test_a_reader_asking_for_a_page_in_flight_waits_for_it_instead_of_sending_again():
    store = _PageStore(window=10)
    release, sent = threading.Event(), []

    def slow_send():
        sent.append("first")
        release.wait(5)
        return _exchange("page 1")

    results = []
    first = threading.Thread(target=lambda: results.append(store.fetch(("p1",), slow_send)))
    first.start()
    while not sent:  # the first reader's request is in flight
        threading.Event().wait(0.001)
    second = threading.Thread(target=lambda: results.append(store.fetch(("p1",), lambda: sent.append("second"))))
    second.start()
    release.set()
    first.join(5)
    second.join(5)

    assert sent == ["first"]
    assert [response.content for _, response in results] == [b"page 1", b"page 1"]
    assert results[0] is results[1] and store.requests_saved == 1


def test_a_failed_request_is_not_shared_and_the_next_reader_sends_its_own():
    store = _PageStore(window=10)

    def failing_send():
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        store.fetch(("p1",), failing_send)
    _, response = store.fetch(("p1",), lambda: _exchange("retried"))

    assert response.content == b"retried"


def test_only_the_last_window_pages_are_kept():
    store = _PageStore(window=2)
    sends = []

    def send(name):
        def _send():
            sends.append(name)
            return _exchange(name)

        return _send

    for name in ("a", "b", "c", "c", "b", "a"):
        store.fetch((name,), send(name))

    assert sends == ["a", "b", "c", "a"]  # "a" fell out of the window when "c" came in
