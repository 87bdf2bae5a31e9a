"""Child streams: one request chain per parent record, the parent's key on every record, a vanished parent skipped."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from source_courier import SourceCourier
from unit_tests.builders import (
    Body,
    config,
    error,
    has_more_page,
    keys,
    page,
    paging_a,
    paths,
    queries,
    records,
    refused_key,
    sample,
    schema,
    serve,
    stream_error,
)


def _unpaged(records: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {"results": records}


# stream -> (parent stream, parent path, parent body, child path with {}, child body, query on every page,
#            parent key added to records, the child's own key field)
CHILDREN: dict[str, tuple[str, str, Body, str, Body, dict[str, str], str, str]] = {
    "list_subscriptions": (
        "lists",
        "/lists",
        paging_a("items"),
        "/lists/{}/subscriptions",
        paging_a("items"),
        {},
        "list_id",
        "recipientId",
    ),
    "audience_members": (
        "audiences",
        "/audiences",
        paging_a("items"),
        "/audiences/{}/members",
        paging_a("items"),
        {},
        "audience_id",
        "member_id",
    ),
    "tenant_users": (
        "tenants",
        "/tenants",
        has_more_page,
        "/tenants/{}/users",
        has_more_page,
        {"limit": "100"},
        "tenant_id",
        "user_id",
    ),
    "tenant_templates": (
        "tenants",
        "/tenants",
        has_more_page,
        "/tenants/{}/templates",
        has_more_page,
        {"limit": "100"},
        "tenant_id",
        "id",
    ),
    "preference_topics": (
        "preference_sections",
        "/preferences/sections",
        _unpaged,
        "/preferences/sections/{}/topics",
        _unpaged,
        {},
        "section_id",
        "id",
    ),
}
PAGED_CHILDREN = [stream for stream in CHILDREN if stream != "preference_topics"]


def _serve_parents(api: Any, stream: str, *parent_ids: str) -> None:
    parent, parent_path, parent_body, *_ = CHILDREN[stream]
    parents = [sample(parent, id=parent_id) for parent_id in parent_ids]
    serve(api, parent_path, parent_body(parents, None), **CHILDREN[stream][5])


@pytest.mark.parametrize("stream", [pytest.param(stream, id=stream) for stream in PAGED_CHILDREN])
def test_child_stream_pages_each_parent_to_its_end_and_carries_the_parent_key(api, run_read, stream):
    _, _, _, child_path, child_body, query, parent_key, own_key = CHILDREN[stream]
    _serve_parents(api, stream, "p1", "p2")
    serve(api, child_path.format("p1"), child_body([sample(stream, **{own_key: "a"})], "c1"), **query)
    serve(api, child_path.format("p1"), child_body([sample(stream, **{own_key: "b"})], None), **query, cursor="c1")
    serve(api, child_path.format("p2"), child_body([sample(stream, **{own_key: "c"})], None), **query)

    output = run_read(config(), streams=(stream,))

    # Parents are read concurrently, so only each parent's own pages keep their order.
    assert sorted(keys(output, stream, parent_key, own_key)) == [("p1", "a"), ("p1", "b"), ("p2", "c")]
    assert queries(api, child_path.format("p1")) == [query, {**query, "cursor": "c1"}]
    assert queries(api, child_path.format("p2")) == [query]
    for record in records(output, stream):
        jsonschema.validate(record, schema(stream))
    assert not output.errors


def test_preference_topics_are_one_unpaged_request_per_section(api, run_read):
    _serve_parents(api, "preference_topics", "s1", "s2")
    serve(api, "/preferences/sections/s1/topics", {"results": [sample("preference_topics", id="t1")]})
    serve(api, "/preferences/sections/s2/topics", {"results": [sample("preference_topics", id="t2")]})

    output = run_read(config(), streams=("preference_topics",))

    assert sorted(keys(output, "preference_topics", "section_id", "id")) == [("s1", "t1"), ("s2", "t2")]
    assert sorted(paths(api)) == [
        "/preferences/sections",
        "/preferences/sections/s1/topics",
        "/preferences/sections/s2/topics",
    ]


def test_parent_ids_are_percent_encoded_as_one_path_segment(api, run_read):
    serve(api, "/lists", page([sample("lists", id="team/a b#1?x")], key="items"))
    serve(api, "/lists/team%2Fa%20b%231%3Fx/subscriptions", page([sample("list_subscriptions")], key="items"))

    output = run_read(config(), streams=("list_subscriptions",))

    assert keys(output, "list_subscriptions", "list_id") == [("team/a b#1?x",)]  # the record keeps the raw id


def _partition_fields(router: dict[str, Any]) -> set[str]:
    """The partition fields a (union of) substream router(s) fills."""
    fields = {router["partition_field"]} if "partition_field" in router else set()
    fields |= {parent["partition_field"] for parent in router.get("parent_stream_configs", [])}
    return fields.union(*(_partition_fields(inner) for inner in router.get("partition_routers", [])))


def test_each_endpoint_names_at_most_one_key_and_it_is_its_partition_field():
    """The requester's URL template fills one `{key}`: a second would be sent unfilled."""
    manifest = SourceCourier(config=config()).resolved_manifest
    placed = {
        stream["name"]: (
            re.findall(r"{(\w+)}", stream["$parameters"]["endpoint"]),
            _partition_fields(stream["retriever"].get("partition_router") or {}),
        )
        for stream in manifest["streams"]
    }

    assert all(len(named) <= 1 and set(named) <= fields for named, fields in placed.values()), placed
    assert sum(len(named) for named, _ in placed.values()) == 15  # every child stream
    assert placed["message_history"] == (["message_id"], {"message_id"})


def test_a_parent_deleted_mid_sync_is_skipped_with_a_log_line(api, run_read):
    _serve_parents(api, "list_subscriptions", "gone", "kept")
    serve(api, "/lists/gone/subscriptions", error("Not Found", "invalid_request_error"), status=404)
    serve(api, "/lists/kept/subscriptions", page([sample("list_subscriptions", recipientId="u1")], key="items"))

    output = run_read(config(), streams=("list_subscriptions",))

    assert keys(output, "list_subscriptions", "list_id", "recipientId") == [("kept", "u1")]
    assert (
        "Skipped https://api.courier.com/lists/gone/subscriptions: Courier answered 404 Not Found, so its parent was "
        "deleted during the sync."
    ) in [entry.log.message for entry in output.logs]
    assert not output.errors
    assert len(queries(api, "/lists/gone/subscriptions")) == 1  # not retried


def test_a_child_keeps_the_shared_error_handling_for_everything_but_404(api, run_read, waits):
    _serve_parents(api, "audience_members", "a1")
    serve(api, "/audiences/a1/members", error("Service Unavailable", "api_error"), status=503)
    serve(api, "/audiences/a1/members", {"paging": {"more": False}})  # 200 without `items`: retried too
    serve(api, "/audiences/a1/members", page([sample("audience_members", member_id="u1")], key="items"))

    output = run_read(config(), streams=("audience_members",))

    assert keys(output, "audience_members", "audience_id", "member_id") == [("a1", "u1")]
    assert waits == [1, 2]  # the CDK's exponential backoff, as on every stream


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_on_a_child_fails_the_stream_with_the_config_error(api, run_read, status):
    _serve_parents(api, "tenant_users", "t1")
    serve(api, "/tenants/t1/users", error(), status=status, limit="100")

    output = run_read(config(), streams=("tenant_users",))

    failure = stream_error(output)
    assert failure.failure_type.value == "config_error"
    assert failure.message == refused_key("Unauthorized")


def test_paging_style_b_child_without_items_is_an_empty_page_not_an_error(api, run_read):
    # Courier's SDK marks `items` optional on tenant users and templates; `has_more` is always there.
    _serve_parents(api, "tenant_templates", "t1")
    serve(
        api, "/tenants/t1/templates", {"has_more": False, "url": "/tenants/t1/templates", "type": "list"}, limit="100"
    )

    output = run_read(config(), streams=("tenant_templates",))

    assert records(output, "tenant_templates") == []
    assert not output.errors


@pytest.mark.parametrize(
    ("parent_id", "path_segment", "parent_key"),
    [
        pytest.param("12345", "12345", "12345", id="digits"),
        pytest.param("007", "007", "007", id="leading-zeros"),
        pytest.param("1e3", "1e3", "1e3", id="float-notation"),
        pytest.param("-5", "-5", "-5", id="negative"),
        pytest.param("True", "True", "True", id="boolean-word"),
        pytest.param("None", "None", "None", id="none-word"),
        pytest.param("[1]", "%5B1%5D", "[1]", id="list-notation"),
        pytest.param("{{ 7*7 }}", "%7B%7B%207%2A7%20%7D%7D", "{{ 7*7 }}", id="template-notation"),
    ],
)
def test_the_parent_key_added_to_child_records_is_always_a_string(api, run_read, parent_id, path_segment, parent_key):
    serve(api, "/lists", page([sample("lists", id=parent_id)], key="items"))
    serve(api, f"/lists/{path_segment}/subscriptions", page([sample("list_subscriptions")], key="items"))

    output = run_read(config(), streams=("list_subscriptions",))

    assert keys(output, "list_subscriptions", "list_id") == [(parent_key,)]
    assert not output.errors


@pytest.mark.parametrize("parent_id", ["'beta'", '"beta"', " 'beta'"], ids=["single", "double", "padded"])
def test_a_parent_id_in_quotes_is_added_to_child_records_as_sent(api, run_read, parent_id):
    serve(api, "/lists", page([sample("lists", id=parent_id)], key="items"))
    serve(api, f"/lists/{quote(parent_id, safe='')}/subscriptions", page([sample("list_subscriptions")], key="items"))

    output = run_read(config(), streams=("list_subscriptions",))

    assert keys(output, "list_subscriptions", "list_id") == [(parent_id,)]
