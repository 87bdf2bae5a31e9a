"""How often each Courier path is requested when streams that read a parent are selected together.

Every stream reads its parent on its own: the CDK reads a parent stream again for each child stream, and the
connector shares no pages between them (the CDK's response cache stays off, see the manifest). So a parent's
pages are requested once by the parent stream, if selected, and once more by every selected stream that reads
it, directly or through another stream; each child path is requested once per stream that reads it. These
counts are the ones docs/courier.md cites.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from airbyte_cdk.models import SyncMode

from unit_tests.builders import (
    DAY_MS,
    MESSAGE_CHILDREN,
    config,
    has_more_page,
    keys,
    message,
    page,
    paths,
    queries,
    runs_page,
    sample,
    serve,
    stream_state,
    templates_page,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch ms
MESSAGE_PATHS = [f"/messages/{m}/{endpoint}" for m in ("m1", "m2", "m3") for endpoint in MESSAGE_CHILDREN.values()]


def _two_pages_of_messages(api: Any, children: tuple[str, ...] = tuple(MESSAGE_CHILDREN), **query: str) -> None:
    serve(api, "/messages", page([message("m3", T0 + 3), message("m2", T0 + 2)], cursor="c2"), **query)
    serve(api, "/messages", page([message("m1", T0 + 1)]), cursor="c2", **query)
    for message_id in ("m1", "m2", "m3"):
        for stream in children:
            serve(api, f"/messages/{message_id}/{MESSAGE_CHILDREN[stream]}", {"results": [sample(stream)]})


def _in_any_order(requests: list[dict[str, str]]) -> list[tuple[tuple[str, str], ...]]:
    """Readers of one parent run side by side, so only how many times each query was sent is fixed."""
    return sorted(tuple(sorted(query.items())) for query in requests)


def test_messages_with_both_children_request_each_messages_page_three_times_and_each_message_path_once(api, run_read):
    _two_pages_of_messages(api)

    output = run_read(config(), streams=("messages", "message_history", "message_content"))

    assert _in_any_order(queries(api, "/messages")) == [()] * 3 + [(("cursor", "c2"),)] * 3
    assert Counter(paths(api)) == {"/messages": 6, **{path: 1 for path in MESSAGE_PATHS}}
    assert keys(output, "messages", "id") == [("m3",), ("m2",), ("m1",)]
    for stream in MESSAGE_CHILDREN:
        assert sorted(keys(output, stream, "message_id")) == [("m1",), ("m2",), ("m3",)]
    assert not output.errors


def test_one_message_child_with_messages_requests_each_messages_page_twice(api, run_read):
    _two_pages_of_messages(api, children=("message_content",))

    output = run_read(config(), streams=("messages", "message_content"))

    assert _in_any_order(queries(api, "/messages")) == [()] * 2 + [(("cursor", "c2"),)] * 2
    assert Counter(paths(api)) == {
        "/messages": 4,
        "/messages/m1/output": 1,
        "/messages/m2/output": 1,
        "/messages/m3/output": 1,
    }
    assert sorted(keys(output, "message_content", "message_id")) == [("m1",), ("m2",), ("m3",)]


def test_a_child_alone_still_reads_its_parent_once_page_by_page(api, run_read):
    _two_pages_of_messages(api, children=("message_history",))

    output = run_read(config(), streams=("message_history",))

    assert queries(api, "/messages") == [{}, {"cursor": "c2"}]
    assert sorted(paths(api)[2:]) == [f"/messages/{m}/history" for m in ("m1", "m2", "m3")]
    assert sorted(keys(output, "message_history", "message_id")) == [("m1",), ("m2",), ("m3",)]


def test_in_an_incremental_sync_each_reader_of_messages_sends_its_own_saved_cursor(api, run_read):
    saved = T0 + 10 * DAY_MS
    child_state = {
        "use_global_cursor": True,
        "state": {"enqueued": str(saved)},
        "lookback_window": 3,
        "parent_state": {"messages": {"enqueued": str(saved)}},
    }
    state = stream_state("messages", {"enqueued": str(saved)}) + stream_state("message_history", child_state)
    after = str(saved - DAY_MS)  # the saved cursor minus the default lookback of one day
    serve(api, "/messages", page([message("m2", saved + 2), message("m1", saved + 1)]), enqueued_after=after)
    serve(api, "/messages", page([message("m2", saved + 2), message("m1", saved + 1)]))  # content has no state yet
    for message_id in ("m1", "m2"):
        for stream, endpoint in MESSAGE_CHILDREN.items():
            serve(api, f"/messages/{message_id}/{endpoint}", {"results": [sample(stream)]})

    output = run_read(config(), SyncMode.incremental, state, streams=("messages", *MESSAGE_CHILDREN))

    # messages and message_history resume from their state; message_content, without one, reads from the start.
    assert _in_any_order(queries(api, "/messages")) == [(), (("enqueued_after", after),), (("enqueued_after", after),)]
    assert Counter(paths(api)) == {
        "/messages": 3,
        **{f"/messages/{m}/{endpoint}": 1 for m in ("m1", "m2") for endpoint in MESSAGE_CHILDREN.values()},
    }
    assert not output.errors


def test_tenants_with_both_tenant_children_request_each_tenants_page_three_times(api, run_read):
    serve(api, "/tenants", has_more_page([sample("tenants", id="acme")], cursor="t2"), limit="100")
    serve(api, "/tenants", has_more_page([sample("tenants", id="zeta")]), limit="100", cursor="t2")
    for tenant in ("acme", "zeta"):
        for child in ("users", "templates"):
            serve(api, f"/tenants/{tenant}/{child}", has_more_page([], path=f"/tenants/{tenant}/{child}"), limit="100")

    output = run_read(config(), streams=("tenants", "tenant_users", "tenant_templates"))

    first, second = (("limit", "100"),), (("cursor", "t2"), ("limit", "100"))
    assert _in_any_order(queries(api, "/tenants")) == [second] * 3 + [first] * 3
    assert Counter(paths(api)) == {
        "/tenants": 6,
        **{f"/tenants/{tenant}/{child}": 1 for tenant in ("acme", "zeta") for child in ("users", "templates")},
    }
    assert keys(output, "tenants", "id") == [("acme",), ("zeta",)]


USER_PATHS = ("/profiles/{}", "/users/{}/tokens", "/users/{}/preferences")
USER_STREAMS = ("profiles", "user_tokens", "user_preferences")


def _serve_user_sources(api: Any, user_streams: tuple[str, ...] = USER_STREAMS) -> None:
    """One list, one audience and one tenant, each naming the user ada; ada's data for `user_streams`."""
    serve(api, "/lists", page([sample("lists", id="news")], key="items"))
    serve(api, "/lists/news/subscriptions", page([sample("list_subscriptions", recipientId="ada")], key="items"))
    serve(api, "/audiences", page([sample("audiences", id="pro")], key="items"))
    members = [sample("audience_members", audience_id="pro", member_id="ada")]
    serve(api, "/audiences/pro/members", page(members, key="items"))
    serve(api, "/tenants", has_more_page([sample("tenants", id="acme")]), limit="100")
    users = [sample("tenant_users", tenant_id="acme", user_id="ada")]
    serve(api, "/tenants/acme/users", has_more_page(users, path="/tenants/acme/users"), limit="100")
    bodies = {
        "profiles": sample("profiles"),
        "user_tokens": {"tokens": [sample("user_tokens")]},
        "user_preferences": page([sample("user_preferences")], key="items"),
    }
    for stream, path in zip(USER_STREAMS, USER_PATHS, strict=True):
        if stream in user_streams:
            serve(api, path.format("ada"), bodies[stream])


def test_lists_with_subscriptions_and_the_three_user_streams_request_lists_five_times(api, run_read):
    _serve_user_sources(api)

    output = run_read(config(), streams=("lists", "list_subscriptions", "profiles", "user_tokens", "user_preferences"))

    # Each user stream reads every list, audience and tenant and their members to find its users.
    assert Counter(paths(api)) == {
        "/lists": 5,
        "/lists/news/subscriptions": 4,
        "/audiences": 3,
        "/audiences/pro/members": 3,
        "/tenants": 3,
        "/tenants/acme/users": 3,
        **{path.format("ada"): 1 for path in USER_PATHS},
    }
    for stream in USER_STREAMS:
        assert keys(output, stream, "user_id") == [("ada",)]
    assert not output.errors


def test_one_user_stream_alone_reads_each_user_source_once(api, run_read):
    _serve_user_sources(api, user_streams=("profiles",))

    output = run_read(config(), streams=("profiles",))

    assert Counter(paths(api)) == {
        "/lists": 1,
        "/lists/news/subscriptions": 1,
        "/audiences": 1,
        "/audiences/pro/members": 1,
        "/tenants": 1,
        "/tenants/acme/users": 1,
        "/profiles/ada": 1,
    }
    assert keys(output, "profiles", "user_id") == [("ada",)]


EPOCH = "1970-01-01T00:00:00.000Z"  # the runs' and preference logs' floor when neither config nor state sets one


def test_every_stream_selected_requests_each_parent_once_per_reader(api, run_read):
    """A workspace with one record everywhere: one message, list, audience, tenant and section, all naming ada."""
    serve(api, "/messages", page([message("m1", T0)]))
    for stream, endpoint in MESSAGE_CHILDREN.items():
        serve(api, f"/messages/m1/{endpoint}", {"results": [sample(stream)]})
    for stream, path in (("brands", "/brands"), ("notifications", "/notifications"), ("providers", "/providers")):
        serve(api, path, page([sample(stream)]))
    serve(api, "/audit-events", page([sample("audit_events")]))
    for stream, path in (("routing_strategies", "/routing-strategies"), ("broadcasts", "/broadcasts")):
        serve(api, path, page([sample(stream)]), limit="100")
    _serve_user_sources(api)
    serve(api, "/tenants/acme/templates", has_more_page([sample("tenant_templates")]), limit="100")
    for stream, path in (("automations", "/automations"), ("journeys", "/journeys")):
        serve(api, path, templates_page([sample(stream)]))
    for stream, path in (("automation_runs", "/automations/runs"), ("journey_runs", "/journeys/runs")):
        serve(api, path, runs_page([sample(stream)]), limit="50", start_date=EPOCH)
    serve(api, "/preferences/sections", {"results": [sample("preference_sections", id="s1")]})
    serve(api, "/preferences/sections/s1/topics", {"results": [sample("preference_topics")]})
    serve(api, "/preferences/logs", page([sample("preference_logs")], key="items"), since=EPOCH, limit="100")
    every_stream = (
        "messages",
        *MESSAGE_CHILDREN,
        "brands",
        "notifications",
        "lists",
        "list_subscriptions",
        "audiences",
        "audience_members",
        "tenants",
        "tenant_users",
        "tenant_templates",
        "audit_events",
        "automations",
        "automation_runs",
        "journeys",
        "journey_runs",
        "preference_sections",
        "preference_topics",
        "preference_logs",
        "providers",
        "routing_strategies",
        "broadcasts",
        "profiles",
        "user_tokens",
        "user_preferences",
    )

    output = run_read(config(), streams=every_stream)

    assert Counter(paths(api)) == {
        "/messages": 3,  # messages, message_history, message_content
        "/messages/m1/history": 1,
        "/messages/m1/output": 1,
        "/lists": 5,  # lists, list_subscriptions, 3 user streams
        "/lists/news/subscriptions": 4,  # list_subscriptions, 3 user streams
        "/audiences": 5,  # audiences, audience_members, 3 user streams
        "/audiences/pro/members": 4,  # audience_members, 3 user streams
        "/tenants": 6,  # tenants, tenant_users, tenant_templates, 3 user streams
        "/tenants/acme/users": 4,  # tenant_users, 3 user streams
        "/tenants/acme/templates": 1,
        "/preferences/sections": 2,  # preference_sections, preference_topics
        "/preferences/sections/s1/topics": 1,
        **{path.format("ada"): 1 for path in USER_PATHS},
        **dict.fromkeys(
            [
                "/brands",
                "/notifications",
                "/audit-events",
                "/automations",
                "/automations/runs",
                "/journeys",
                "/journeys/runs",
                "/preferences/logs",
                "/providers",
                "/routing-strategies",
                "/broadcasts",
            ],
            1,
        ),
    }
    assert sum(Counter(paths(api)).values()) == 51
    assert {message.record.stream for message in output.records} == set(every_stream)
    assert not output.errors
