"""profiles, user_tokens and user_preferences: each user once, whatever lists, audiences and tenants name them."""

from __future__ import annotations

import jsonschema
import pytest

from unit_tests.builders import (
    config,
    error,
    has_more_page,
    keys,
    page,
    paths,
    records,
    sample,
    schema,
    serve,
)

# stream -> (the user's path with {}, the body Courier sends for one user, the record's own key field)
USER_STREAMS = {
    "profiles": ("/profiles/{}", lambda user: sample("profiles"), None),
    "user_tokens": ("/users/{}/tokens", lambda user: {"tokens": [sample("user_tokens", token=f"tok-{user}")]}, "token"),
    "user_preferences": (
        "/users/{}/preferences",
        lambda user: page([sample("user_preferences", topic_id=f"topic-{user}")], key="items"),
        "topic_id",
    ),
}
STREAMS = [pytest.param(stream, id=stream) for stream in USER_STREAMS]
PARENT_PATHS = [
    "/lists",
    "/lists/news/subscriptions",
    "/lists/beta/subscriptions",
    "/audiences",
    "/audiences/pro/members",
    "/tenants",
    "/tenants/acme/users",
]


def _serve_user_sources(api) -> None:
    """ada is in both lists, the audience and the tenant; grace in a list; alan in the audience; kate in the tenant."""
    serve(api, "/lists", page([sample("lists", id="news"), sample("lists", id="beta")], key="items"))
    subscriptions = {"news": ["ada", "grace"], "beta": ["ada"]}
    for list_id, users in subscriptions.items():
        members = [sample("list_subscriptions", recipientId=user) for user in users]
        serve(api, f"/lists/{list_id}/subscriptions", page(members, key="items"))
    serve(api, "/audiences", page([sample("audiences", id="pro")], key="items"))
    members = [sample("audience_members", audience_id="pro", member_id=user) for user in ("alan", "ada")]
    serve(api, "/audiences/pro/members", page(members, key="items"))
    serve(api, "/tenants", has_more_page([sample("tenants", id="acme")]), limit="100")
    users = [sample("tenant_users", tenant_id="acme", user_id=user) for user in ("kate", "ada")]
    serve(api, "/tenants/acme/users", has_more_page(users, path="/tenants/acme/users"), limit="100")


@pytest.mark.parametrize("stream", STREAMS)
def test_each_user_of_lists_audiences_and_tenants_is_requested_once(api, run_read, stream):
    path, body, _ = USER_STREAMS[stream]
    _serve_user_sources(api)
    for user in ("ada", "grace", "alan", "kate"):
        serve(api, path.format(user), body(user))

    output = run_read(config(), streams=(stream,))

    user_paths = sorted(p for p in paths(api) if p not in PARENT_PATHS)
    assert user_paths == sorted(path.format(user) for user in ("ada", "grace", "alan", "kate"))
    assert sorted(keys(output, stream, "user_id")) == [("ada",), ("alan",), ("grace",), ("kate",)]
    for record in records(output, stream):
        jsonschema.validate(record, schema(stream))
    assert not output.errors


@pytest.mark.parametrize("stream", STREAMS)
def test_a_user_deleted_mid_sync_is_skipped_with_a_log_line(api, run_read, stream):
    path, body, _ = USER_STREAMS[stream]
    _serve_user_sources(api)
    serve(api, path.format("ada"), error("Not Found", "invalid_request_error"), status=404)
    for user in ("grace", "alan", "kate"):
        serve(api, path.format(user), body(user))

    output = run_read(config(), streams=(stream,))

    assert sorted(keys(output, stream, "user_id")) == [("alan",), ("grace",), ("kate",)]
    assert (
        f"Skipped https://api.courier.com{path.format('ada')}: Courier answered 404 Not Found, so its parent was "
        "deleted during the sync."
    ) in [entry.log.message for entry in output.logs]
    assert not output.errors


def test_a_profile_record_is_the_whole_body_plus_user_id(api, run_read):
    _serve_user_sources(api)
    for user in ("ada", "grace", "alan", "kate"):
        serve(api, f"/profiles/{user}", {"profile": {"email": f"{user}@example.com"}, "preferences": {}})

    output = run_read(config(), streams=("profiles",))

    assert {record["user_id"]: record for record in records(output, "profiles")}["ada"] == {
        "user_id": "ada",
        "profile": {"email": "ada@example.com"},
        "preferences": {},
    }


def test_token_expiry_dates_keep_couriers_string_boolean_or_null(api, run_read):
    _serve_user_sources(api)
    tokens = [
        sample("user_tokens", token="t-string", expiry_date="2027-01-01T00:00:00Z"),
        sample("user_tokens", token="t-false", expiry_date=False),
        sample("user_tokens", token="t-null", expiry_date=None),
    ]
    serve(api, "/users/ada/tokens", {"tokens": tokens})
    for user in ("grace", "alan", "kate"):
        serve(api, f"/users/{user}/tokens", {"tokens": []})

    output = run_read(config(), streams=("user_tokens",))

    expiry = {record["token"]: record.get("expiry_date") for record in records(output, "user_tokens")}
    assert expiry == {"t-string": "2027-01-01T00:00:00Z", "t-false": False, "t-null": None}
    for record in records(output, "user_tokens"):
        jsonschema.validate(record, schema("user_tokens"))
