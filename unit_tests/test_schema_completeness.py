"""Every stream schema declares, with a compatible type, every field of its record's model in Courier's SDK
(trycourier==9.13.0), and accepts what the emulator serves: PyAirbyte's DuckDB cache silently drops undeclared fields."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, ForwardRef, Literal, Union, get_args, get_origin
from urllib.parse import quote

import pydantic
import pytest
from courier.types.audience import Audience
from courier.types.audience_list_members_response import AudienceListMembersResponse
from courier.types.audience_list_members_response import Item as AudienceMember
from courier.types.audience_list_response import AudienceListResponse
from courier.types.audit_event import AuditEvent
from courier.types.audit_event_list_response import AuditEventListResponse
from courier.types.automation_run_list_item import AutomationRunListItem
from courier.types.automation_run_list_response import AutomationRunListResponse
from courier.types.automation_template import AutomationTemplate
from courier.types.automation_template_list_response import AutomationTemplateListResponse
from courier.types.brand import Brand
from courier.types.brand_list_response import BrandListResponse
from courier.types.broadcast import Broadcast
from courier.types.broadcast_list_response import BroadcastListResponse
from courier.types.digest_instance import DigestInstance
from courier.types.digest_instance_list_response import DigestInstanceListResponse
from courier.types.journey import Journey
from courier.types.journey_run_list_item import JourneyRunListItem
from courier.types.journey_run_list_response import JourneyRunListResponse
from courier.types.journey_run_step import JourneyRunStep
from courier.types.journey_run_steps_response import JourneyRunStepsResponse
from courier.types.journey_template_list_response import JourneyTemplateListResponse
from courier.types.journey_template_summary import JourneyTemplateSummary
from courier.types.journey_version_item import JourneyVersionItem
from courier.types.journey_versions_list_response import JourneyVersionsListResponse
from courier.types.journeys_list_response import JourneysListResponse
from courier.types.list_list_response import ListListResponse
from courier.types.lists.subscription_list_response import Item as ListSubscription
from courier.types.lists.subscription_list_response import SubscriptionListResponse
from courier.types.message_content_response import MessageContentResponse
from courier.types.message_content_response import Result as MessageContent
from courier.types.message_details import MessageDetails
from courier.types.message_history_response import MessageHistoryResponse
from courier.types.message_list_response import MessageListResponse
from courier.types.message_retrieve_response import MessageRetrieveResponse
from courier.types.notification_list_response import NotificationListResponse, ResultNotification
from courier.types.notification_template_summary import NotificationTemplateSummary
from courier.types.notification_template_version_list_response import NotificationTemplateVersionListResponse
from courier.types.preference_change_log_entry import PreferenceChangeLogEntry
from courier.types.preference_logs_list_response import PreferenceLogsListResponse
from courier.types.profile_retrieve_response import ProfileRetrieveResponse
from courier.types.provider import Provider
from courier.types.provider_list_response import ProviderListResponse
from courier.types.routing_strategy_list_response import RoutingStrategyListResponse
from courier.types.routing_strategy_summary import RoutingStrategySummary
from courier.types.subscription_list import SubscriptionList
from courier.types.tenant import Tenant
from courier.types.tenant_association import TenantAssociation
from courier.types.tenant_list_response import TenantListResponse
from courier.types.tenant_list_users_response import TenantListUsersResponse
from courier.types.tenants.template_list_response import Item as TenantTemplate
from courier.types.tenants.template_list_response import TemplateListResponse
from courier.types.users.preference_retrieve_response import PreferenceRetrieveResponse
from courier.types.users.token_list_response import TokenListResponse
from courier.types.users.topic_preference import TopicPreference
from courier.types.users.user_token import UserToken
from courier.types.version_node import VersionNode
from courier.types.workspace_preference_get_response import WorkspacePreferenceGetResponse
from courier.types.workspace_preference_list_response import WorkspacePreferenceListResponse
from courier.types.workspace_preference_topic_get_response import WorkspacePreferenceTopicGetResponse
from courier.types.workspace_preference_topic_list_response import WorkspacePreferenceTopicListResponse
from jsonschema import Draft7Validator
from typing_extensions import TypeAliasType

from courier_emulator.data import MessageLog
from unit_tests.builders import CHILD_ENDPOINTS, LIST_ENDPOINTS, MORE_CHILD_ENDPOINTS, small_workspace
from unit_tests.builders import schema as stream_schema

SCHEMAS_DIR = Path(__file__).resolve().parents[1] / "source_courier" / "schemas"


class _HistoryChannel(pydantic.BaseModel):
    id: str | None = None


class _HistoryIntegration(pydantic.BaseModel):
    id: str | None = None
    provider: str | None = None


class DocumentedHistoryEntry(pydantic.BaseModel):
    """A GET /messages/{id}/history entry as Courier's older docs describe it (trycourier/docs
    versioned_docs/version-2.0.0/reference/configs/schemas/MessageHistory*Item.ts): the SDK types entries as
    Dict[str, object]. `output` is left untyped: those docs call its fields "paths" to the content."""

    type: str
    ts: int
    channel: _HistoryChannel | None = None
    integration: _HistoryIntegration | None = None
    error_message: str | None = None
    event_id: str | None = None
    notification_id: str | None = None
    output: dict[str, object] | None = None
    merged_profile: dict[str, object] | None = None
    received_profile: dict[str, object] | None = None
    stored_profile: dict[str, object] | None = None
    event: str | None = None
    recipient: str | None = None
    data: dict[str, object] | None = None
    profile: dict[str, object] | None = None
    override: dict[str, object] | None = None


# stream -> the SDK model(s) of one record; notifications mix V1 and V2 templates, so its schema is their union.
STREAM_MODELS: dict[str, tuple[type[pydantic.BaseModel], ...]] = {
    "messages": (MessageDetails, MessageRetrieveResponse),
    "message_history": (DocumentedHistoryEntry,),
    "message_content": (MessageContent,),
    "brands": (Brand,),
    "notifications": (ResultNotification, NotificationTemplateSummary),
    "notification_versions": (VersionNode,),
    "lists": (SubscriptionList,),
    "list_subscriptions": (ListSubscription,),
    "audiences": (Audience,),
    "audience_members": (AudienceMember,),
    "tenants": (Tenant,),
    "tenant_users": (TenantAssociation,),
    "tenant_templates": (TenantTemplate,),
    "audit_events": (AuditEvent,),
    "automations": (AutomationTemplate,),
    "automation_runs": (AutomationRunListItem,),
    "journeys": (Journey,),
    "journey_versions": (JourneyVersionItem,),
    "journey_templates": (JourneyTemplateSummary,),
    "journey_runs": (JourneyRunListItem,),
    "journey_run_steps": (JourneyRunStep,),
    "preference_sections": (WorkspacePreferenceGetResponse,),
    "preference_topics": (WorkspacePreferenceTopicGetResponse,),
    "digest_instances": (DigestInstance,),
    "preference_logs": (PreferenceChangeLogEntry,),
    "providers": (Provider,),
    "routing_strategies": (RoutingStrategySummary,),
    "broadcasts": (Broadcast,),
    "profiles": (ProfileRetrieveResponse,),
    "user_tokens": (UserToken,),
    "user_preferences": (TopicPreference,),
}

# stream -> (the SDK model of the endpoint's response, the field holding the records; None: the body is the record).
RESPONSES: dict[str, tuple[type[pydantic.BaseModel], str | None]] = {
    "messages": (MessageListResponse, "results"),
    "message_content": (MessageContentResponse, "results"),
    "brands": (BrandListResponse, "results"),
    "notifications": (NotificationListResponse, "results"),
    "notification_versions": (NotificationTemplateVersionListResponse, "versions"),
    "lists": (ListListResponse, "items"),
    "list_subscriptions": (SubscriptionListResponse, "items"),
    "audiences": (AudienceListResponse, "items"),
    "audience_members": (AudienceListMembersResponse, "items"),
    "tenants": (TenantListResponse, "items"),
    "tenant_users": (TenantListUsersResponse, "items"),
    "tenant_templates": (TemplateListResponse, "items"),
    "audit_events": (AuditEventListResponse, "results"),
    "automations": (AutomationTemplateListResponse, "templates"),
    "automation_runs": (AutomationRunListResponse, "runs"),
    "journeys": (JourneysListResponse, "templates"),
    "journey_versions": (JourneyVersionsListResponse, "results"),
    "journey_templates": (JourneyTemplateListResponse, "results"),
    "journey_runs": (JourneyRunListResponse, "runs"),
    "journey_run_steps": (JourneyRunStepsResponse, "steps"),
    "preference_sections": (WorkspacePreferenceListResponse, "results"),
    "preference_topics": (WorkspacePreferenceTopicListResponse, "results"),
    "digest_instances": (DigestInstanceListResponse, "items"),
    "preference_logs": (PreferenceLogsListResponse, "items"),
    "providers": (ProviderListResponse, "results"),
    "routing_strategies": (RoutingStrategyListResponse, "results"),
    "broadcasts": (BroadcastListResponse, "results"),
    "profiles": (ProfileRetrieveResponse, None),
    "user_tokens": (TokenListResponse, "tokens"),
    "user_preferences": (PreferenceRetrieveResponse, "items"),
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "messages": ("id",),
    "message_history": ("message_id", "type", "ts"),
    "message_content": ("message_id", "channel_id"),
    "brands": ("id",),
    "notifications": ("id",),
    "notification_versions": ("notification_id", "version"),
    "lists": ("id",),
    "list_subscriptions": ("list_id", "recipientId"),
    "audiences": ("id",),
    "audience_members": ("audience_id", "member_id"),
    "tenants": ("id",),
    "tenant_users": ("tenant_id", "user_id"),
    "tenant_templates": ("tenant_id", "id"),
    "audit_events": ("auditEventId",),
    "automations": ("id",),
    "automation_runs": ("run_id",),
    "journeys": ("id",),
    "journey_versions": ("template_id", "version"),
    "journey_templates": ("template_id", "id"),
    "journey_runs": ("run_id",),
    "journey_run_steps": (),  # no field identifies a step: node_id is optional and there is no step id
    "preference_sections": ("id",),
    "preference_topics": ("section_id", "id"),
    "digest_instances": ("schedule_id", "digest_instance_id"),
    "preference_logs": ("id",),
    "providers": ("id",),
    "routing_strategies": ("id",),
    "broadcasts": ("id",),
    "profiles": ("user_id",),
    "user_tokens": ("user_id", "token"),
    "user_preferences": ("user_id", "topic_id"),
}
INTEGER_KEYS = {("message_history", "ts")}

# stream -> the key of its parent the connector puts on each record (audience_members and tenant_users: Courier
# already sends it).
PARENT_KEYS: dict[str, str] = {
    "message_history": "message_id",
    "message_content": "message_id",
    "list_subscriptions": "list_id",
    "audience_members": "audience_id",
    "tenant_users": "tenant_id",
    "tenant_templates": "tenant_id",
    "preference_topics": "section_id",
    "notification_versions": "notification_id",
    "journey_versions": "template_id",
    "journey_templates": "template_id",
    "journey_run_steps": "run_id",
    "digest_instances": "schedule_id",
    "profiles": "user_id",
    "user_tokens": "user_id",
    "user_preferences": "user_id",
}

# (stream, field path) -> why the schema leaves that SDK field out.
EXEMPTIONS: dict[tuple[str, str], str] = {
    ("providers", "settings"): "dropped on purpose: it can hold provider credentials",
}

STREAMS = [pytest.param(stream, id=stream) for stream in STREAM_MODELS]


# --- the walker: SDK model fields against a JSON schema --------------------------------------------------------

NONE = type(None)
UNTYPED = (object, Any)
UNIONS = (Union, types.UnionType)
SEQUENCES = (list, tuple, set, frozenset, Sequence)
MAPPINGS = (dict, Mapping)
JSON_TYPE = {str: "string", bool: "boolean", int: "integer", float: "number", datetime: "string", date: "string"}
ACCEPTED = {"number": ("number", "integer")}  # a float may be declared integer; an int may not be declared number


def _resolve(tp: Any, module: str) -> tuple[Any, str]:
    """The type behind forward references, type aliases and Annotated, with the module its names live in."""
    while True:
        if isinstance(tp, str):
            tp = ForwardRef(tp)
        if isinstance(tp, ForwardRef):
            tp = getattr(sys.modules[module], tp.__forward_arg__.strip("'\""))
        elif isinstance(tp, TypeAliasType):
            tp, module = tp.__value__, tp.__module__
        elif get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        else:
            return tp, module


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def _fields(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    if not model.__pydantic_complete__:
        model.model_rebuild()  # the SDK defers building its models, leaving forward references unresolved
    return model.model_fields


def _models_in(tp: Any, module: str) -> Iterator[type[pydantic.BaseModel]]:
    tp, module = _resolve(tp, module)
    if _is_model(tp):
        yield tp
    elif get_origin(tp) is not Literal:
        for arg in get_args(tp):
            yield from _models_in(arg, module)


def _is_recursive(model: type[pydantic.BaseModel], path: tuple[type[pydantic.BaseModel], ...] = ()) -> bool:
    """Whether the model reaches itself, tracking the models on the current path."""
    if model in path:
        return True
    return any(
        _is_recursive(nested, (*path, model))
        for field in _fields(model).values()
        for nested in _models_in(field.annotation, model.__module__)
    )


def describe(tp: Any, module: str = "builtins") -> str:
    """The JSON type a Python annotation serialises to, for messages."""
    tp, module = _resolve(tp, module)
    origin = get_origin(tp)
    if tp in UNTYPED:
        return "any"
    if origin in UNIONS:
        return " | ".join(describe(member, module) for member in get_args(tp))
    if tp is NONE:
        return "null"
    if origin is Literal:
        return " | ".join(sorted({JSON_TYPE[type(value)] for value in get_args(tp)}))
    if tp in JSON_TYPE:
        return JSON_TYPE[tp]
    if origin in SEQUENCES:
        return f"array of {describe(get_args(tp)[0], module)}"
    if origin in MAPPINGS:
        return f"object of {describe(get_args(tp)[1], module)}"
    if _is_model(tp):
        return f"object ({tp.__name__})"
    return repr(tp)


def _without_none(tp: Any) -> Any:
    if get_origin(tp) not in UNIONS:
        return tp
    members = tuple(member for member in get_args(tp) if member is not NONE)
    return members[0] if len(members) == 1 else Union[members]  # noqa: UP007 - a runtime Union of a tuple


def _is_free_form(node: Mapping[str, Any]) -> bool:
    return not node.get("properties") and node.get("additionalProperties", True) is True


class _Walk:
    def __init__(self, prefix: str, primary_key: Sequence[str], exempt: Sequence[str]) -> None:
        self.prefix = prefix
        self.primary_key = set(primary_key)
        self.exempt = set(exempt)
        self.problems: list[str] = []

    def report(self, path: str, text: str) -> None:
        problem = f"{self.prefix}{path or '<record>'}: {text}"
        if problem not in self.problems:
            self.problems.append(problem)

    def expect(self, node: Mapping[str, Any], path: str, json_type: str) -> bool:
        declared = node.get("type")
        if declared is None:  # no type: anything is accepted
            return True
        declared_set = {declared} if isinstance(declared, str) else set(declared)
        if declared_set & set(ACCEPTED.get(json_type, (json_type,))):
            return True
        self.report(path, f"expected {json_type}, the schema declares {json.dumps(declared)}")
        return False

    def model(self, model: type[pydantic.BaseModel], node: Mapping[str, Any], path: str) -> None:
        properties = node.get("properties") or {}
        for name, field in _fields(model).items():
            key = field.alias or name
            field_path = f"{path}.{key}" if path else key
            if field_path in self.exempt:
                continue
            annotation = field.annotation
            if not path and key in self.primary_key:
                annotation = _without_none(annotation)  # a primary key is never null, whatever the SDK allows
            if key not in properties:
                self.report(field_path, f"not declared (expected {describe(annotation, model.__module__)})")
                continue
            self.check(annotation, properties[key], field_path, model.__module__)

    def check(self, tp: Any, node: Mapping[str, Any], path: str, module: str) -> None:
        tp, module = _resolve(tp, module)
        origin = get_origin(tp)
        if tp in UNTYPED:
            return
        if origin in UNIONS:
            for member in get_args(tp):
                self.check(member, node, path, module)
        elif tp is NONE:
            self.expect(node, path, "null")
        elif origin is Literal:
            for json_type in sorted({JSON_TYPE[type(value)] for value in get_args(tp)}):
                self.expect(node, path, json_type)
        elif tp in JSON_TYPE:
            self.expect(node, path, JSON_TYPE[tp])
        elif origin in SEQUENCES:
            self.sequence(get_args(tp)[0], node, path, module)
        elif origin in MAPPINGS:
            self.mapping(get_args(tp)[1], node, path, module)
        elif _is_model(tp):
            if not self.expect(node, path, "object"):
                return
            if not _is_free_form(node):
                self.model(tp, node, path)
            elif not _is_recursive(tp):
                self.report(path, f"declared as a free-form object, but {tp.__name__} is neither recursive nor untyped")
        else:
            self.report(path, f"the walker does not know the annotation {tp!r}")

    def sequence(self, item: Any, node: Mapping[str, Any], path: str, module: str) -> None:
        if not self.expect(node, path, "array"):
            return
        if isinstance(node.get("items"), Mapping):
            self.check(item, node["items"], f"{path}[]", module)
        elif _resolve(item, module)[0] not in UNTYPED:
            self.report(path, f"array items not declared (expected {describe(item, module)})")

    def mapping(self, value: Any, node: Mapping[str, Any], path: str, module: str) -> None:
        if not self.expect(node, path, "object") or _resolve(value, module)[0] in UNTYPED:
            return
        if isinstance(node.get("additionalProperties"), Mapping):
            self.check(value, node["additionalProperties"], f"{path}{{}}", module)
        else:
            self.report(path, f"map values are {describe(value, module)}, but additionalProperties declares no schema")


def schema_problems(
    models: Sequence[type[pydantic.BaseModel]],
    schema: Mapping[str, Any],
    *,
    stream: str = "",
    primary_key: Sequence[str] = (),
    exempt: Sequence[str] = (),
) -> list[str]:
    """`<stream>: <field path>: <what is wrong>` for each field of the models the schema leaves out or mistypes."""
    walk = _Walk(f"{stream}: " if stream else "", primary_key, exempt)
    for model in models:
        walk.model(model, schema, "")
    return walk.problems


# --- the walker can fail -------------------------------------------------------------------------------------------


class _Leaf(pydantic.BaseModel):
    name: str
    count: int | None = None


class _Toy(pydantic.BaseModel):
    id: str
    recipient_id: str = pydantic.Field(alias="recipientId")
    kind: Literal["a", "b"] | None = None
    when: datetime | None = None
    ratio: float | None = None
    expiry: str | bool | None = None
    leaf: _Leaf | None = None
    leaves: list[_Leaf] = []
    by_key: dict[str, _Leaf] | None = None
    bag: dict[str, object] | None = None
    anything: object | None = None


class _Tree(pydantic.BaseModel):
    label: str
    children: list[_Tree] | None = None


class _Forest(pydantic.BaseModel):
    id: str
    tree: _Tree | None = None


def _leaf_schema() -> dict[str, Any]:
    return {
        "type": ["null", "object"],
        "additionalProperties": True,
        "properties": {"name": {"type": ["null", "string"]}, "count": {"type": ["null", "integer"]}},
    }


def _toy_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": True,
        "required": ["id"],
        "properties": {
            "id": {"type": "string"},
            "recipientId": {"type": ["null", "string"]},
            "kind": {"type": ["null", "string"]},
            "when": {"type": ["null", "string"], "format": "date-time"},
            "ratio": {"type": ["null", "number"]},
            "expiry": {"type": ["null", "string", "boolean"]},
            "leaf": _leaf_schema(),
            "leaves": {"type": ["null", "array"], "items": _leaf_schema()},
            "by_key": {"type": ["null", "object"], "additionalProperties": _leaf_schema()},
            "bag": {"type": ["null", "object"], "additionalProperties": True},
            "anything": {"type": ["null", "object"], "additionalProperties": True},
        },
    }


def test_walker_finds_nothing_missing_in_a_complete_schema():
    assert schema_problems([_Toy], _toy_schema(), stream="toy") == []


def _drop(node: dict[str, Any], key: str) -> None:
    del node[key]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda s: _drop(s["properties"]["leaf"]["properties"], "count"),
            "toy: leaf.count: not declared (expected integer | null)",
            id="nested-field-missing",
        ),
        pytest.param(
            lambda s: s["properties"].update(recipient_id=s["properties"].pop("recipientId")),
            "toy: recipientId: not declared (expected string)",
            id="aliased-field-declared-under-its-python-name",
        ),
        pytest.param(
            lambda s: s["properties"]["leaf"]["properties"]["count"].update(type=["null", "string"]),
            'toy: leaf.count: expected integer, the schema declares ["null", "string"]',
            id="nested-type-mismatch",
        ),
        pytest.param(
            lambda s: s["properties"]["leaf"]["properties"]["count"].update(type=["null", "number"]),
            'toy: leaf.count: expected integer, the schema declares ["null", "number"]',
            id="int-declared-number",
        ),
        pytest.param(
            lambda s: _drop(s["properties"]["leaves"]["items"]["properties"], "name"),
            "toy: leaves[].name: not declared (expected string)",
            id="array-item-field-missing",
        ),
        pytest.param(
            lambda s: _drop(s["properties"]["leaves"], "items"),
            "toy: leaves: array items not declared (expected object (_Leaf))",
            id="array-items-missing",
        ),
        pytest.param(
            lambda s: s["properties"]["when"].update(type="string"),
            'toy: when: expected null, the schema declares "string"',
            id="optional-field-declared-non-nullable",
        ),
        pytest.param(
            lambda s: s["properties"]["expiry"].update(type=["null", "string"]),
            'toy: expiry: expected boolean, the schema declares ["null", "string"]',
            id="union-member-missing",
        ),
        pytest.param(
            lambda s: s["properties"]["kind"].update(type=["null", "integer"]),
            'toy: kind: expected string, the schema declares ["null", "integer"]',
            id="literal-declared-integer",
        ),
        pytest.param(
            lambda s: s["properties"]["by_key"].update(additionalProperties=True),
            "toy: by_key: map values are object (_Leaf), but additionalProperties declares no schema",
            id="map-values-undeclared",
        ),
        pytest.param(
            lambda s: _drop(s["properties"]["by_key"]["additionalProperties"]["properties"], "name"),
            "toy: by_key{}.name: not declared (expected string)",
            id="map-value-field-missing",
        ),
        pytest.param(
            lambda s: _drop(s["properties"]["leaf"], "properties"),
            "toy: leaf: declared as a free-form object, but _Leaf is neither recursive nor untyped",
            id="plain-model-declared-free-form",
        ),
        pytest.param(
            lambda s: s["properties"]["bag"].update(type=["null", "string"]),
            'toy: bag: expected object, the schema declares ["null", "string"]',
            id="untyped-map-declared-string",
        ),
    ],
)
def test_walker_reports_a_missing_or_mistyped_field_with_stream_path_and_expected_type(mutate, expected):
    schema = _toy_schema()
    mutate(schema)

    assert schema_problems([_Toy], schema, stream="toy") == [expected]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda s: s["properties"]["ratio"].update(type=["null", "integer"]), id="float-declared-integer"),
        pytest.param(
            lambda s: s["properties"]["anything"].update(type=["null", "string"]), id="object-declared-string"
        ),
        pytest.param(lambda s: s["properties"]["bag"].pop("type"), id="untyped-map-without-type"),
        pytest.param(lambda s: _drop(s["properties"], "leaf"), id="exempted-field-left-out"),
    ],
)
def test_walker_accepts_compatible_variants_and_exempted_fields(mutate):
    schema = _toy_schema()
    mutate(schema)

    assert schema_problems([_Toy], schema, stream="toy", exempt=["leaf"]) == []


def test_walker_accepts_a_recursive_model_declared_free_form_but_checks_the_levels_declared():
    free_form = {"type": "object", "properties": {"id": {"type": "string"}, "tree": {"type": ["null", "object"]}}}
    one_level = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "tree": {
                "type": ["null", "object"],
                "properties": {"children": {"type": ["null", "array"], "items": {"type": ["null", "object"]}}},
            },
        },
    }

    assert schema_problems([_Forest], free_form) == []
    assert _is_recursive(_Tree) and not _is_recursive(_Leaf)
    assert schema_problems([_Forest], one_level) == ["tree.label: not declared (expected string)"]


def test_walker_lets_a_primary_key_be_non_nullable_where_the_sdk_allows_null():
    class _Association(pydantic.BaseModel):
        user_id: str | None = None

    schema = {"type": "object", "properties": {"user_id": {"type": "string"}}}

    assert schema_problems([_Association], schema, primary_key=["user_id"]) == []
    assert schema_problems([_Association], schema) == ['user_id: expected null, the schema declares "string"']


# --- the streams ---------------------------------------------------------------------------------------------------


def test_every_schema_file_is_a_stream_with_an_sdk_model_and_a_primary_key():
    files = {path.stem for path in SCHEMAS_DIR.glob("*.json")}

    assert files == set(STREAM_MODELS) == set(PRIMARY_KEYS)
    assert set(RESPONSES) == set(STREAM_MODELS) - {"message_history"}


@pytest.mark.parametrize("stream", [pytest.param(stream, id=stream) for stream in RESPONSES])
def test_each_stream_model_is_the_record_type_of_its_endpoints_sdk_response(stream):
    response, records_key = RESPONSES[stream]
    if records_key is None:
        record_types = {response}
    else:
        field = _fields(response)[records_key]
        records, module = _resolve(_without_none(field.annotation), response.__module__)
        record_type, module = _resolve(get_args(records)[0], module)
        record_types = set(get_args(record_type)) if get_origin(record_type) in UNIONS else {record_type}

    assert record_types <= set(STREAM_MODELS[stream])


def test_the_sdk_leaves_message_history_entries_untyped_so_the_older_docs_model_stands_in():
    entries = _fields(MessageHistoryResponse)["results"].annotation

    assert describe(entries) == "array of object of any"


@pytest.mark.parametrize("stream", STREAMS)
def test_schema_declares_every_sdk_field_with_a_compatible_type(stream):
    exempt = [path for (exempt_stream, path) in EXEMPTIONS if exempt_stream == stream]

    problems = schema_problems(
        STREAM_MODELS[stream], stream_schema(stream), stream=stream, primary_key=PRIMARY_KEYS[stream], exempt=exempt
    )

    assert not problems, "fields of Courier's SDK the schema misses or mistypes:\n" + "\n".join(problems)


@pytest.mark.parametrize("stream", STREAMS)
def test_primary_key_and_parent_key_fields_are_declared_non_nullable_and_required(stream):
    schema = stream_schema(stream)
    keys = PRIMARY_KEYS[stream]
    parent_key = (PARENT_KEYS[stream],) if stream in PARENT_KEYS else ()

    for key in {*keys, *parent_key}:
        expected = "integer" if (stream, key) in INTEGER_KEYS else "string"
        assert schema["properties"].get(key, {}).get("type") == expected, f"{stream}: {key} must be {expected}"
    assert {*keys, *parent_key} <= set(schema.get("required", ())), f"{stream}: every key field is required"
    if keys:  # a stream whose records nothing identifies has no primary key, but still its parent's key
        assert set(parent_key) <= set(keys), f"{stream}: the parent key is part of the primary key"


def _types(node: Mapping[str, Any]) -> list[str]:
    declared = node.get("type", [])
    return [declared] if isinstance(declared, str) else declared


def _style_problems(node: Mapping[str, Any], path: str) -> Iterator[str]:
    if "enum" in node:
        yield f"{path}: enum (Courier adds values over time)"
    if "object" in _types(node) and not (
        node.get("additionalProperties") is True or isinstance(node.get("additionalProperties"), Mapping)
    ):
        yield f"{path}: an object must say additionalProperties: true (or give its values' schema)"
    for name, child in node.get("properties", {}).items():
        if "null" not in _types(child):
            yield f"{path}.{name}: not nullable"
        yield from _style_problems(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            yield from _style_problems(node[key], f"{path}.{key}")


@pytest.mark.parametrize("stream", STREAMS)
def test_fields_outside_the_primary_key_are_nullable_open_and_free_of_enums(stream):
    schema = stream_schema(stream)
    keys = {*PRIMARY_KEYS[stream], PARENT_KEYS.get(stream)}
    outside_key = {name: field for name, field in schema["properties"].items() if name not in keys}

    problems = list(_style_problems({**schema, "properties": outside_key}, stream))

    assert schema["type"] == "object" and schema["additionalProperties"] is True
    assert not problems, "\n".join(problems)


def test_providers_schema_does_not_declare_settings():
    assert "settings" not in stream_schema("providers")["properties"]
    assert "settings" in Provider.model_fields  # still in the SDK: the exemption is needed


def test_every_exemption_names_a_field_of_the_streams_sdk_model_and_gives_a_reason():
    for (stream, path), reason in EXEMPTIONS.items():
        first = path.split(".")[0]
        aliases = {field.alias or name for model in STREAM_MODELS[stream] for name, field in _fields(model).items()}
        assert first in aliases and reason, f"{stream}.{path}"


# --- the emulator's records ----------------------------------------------------------------------------------------

MESSAGES_SAMPLED = 25  # the emulator's default log size: every status and reason it produces


def _body(path: str) -> Any:
    status, body = small_workspace().handle(path, {})
    assert status == 200, f"{path}: {status} {body}"
    return body


def _parent_ids(parent: str, parent_field: str) -> list[str]:
    if parent == "users":
        return list(small_workspace().user_ids)
    if parent == "digest_schedules":
        return list(small_workspace().digest_schedules)
    return [record[parent_field] for record in emulator_records(parent)]


def emulator_records(stream: str) -> list[dict[str, Any]]:
    """The first page the emulator's small workspace serves for the stream, as the connector emits it."""
    if stream in LIST_ENDPOINTS:
        path, key = LIST_ENDPOINTS[stream]
        records = _body(path)[key]
        return (
            [{k: v for k, v in record.items() if k != "settings"} for record in records]
            if stream == "providers"
            else records
        )
    children = {**CHILD_ENDPOINTS, **MORE_CHILD_ENDPOINTS}
    if stream in children:
        parent, parent_field, template, key, added = children[stream]
        records = []
        for parent_id in _parent_ids(parent, parent_field):
            body = _body(template.format(quote(parent_id, safe="")))
            records += [{**record, added: parent_id} for record in ([body] if key is None else body[key])]
        return records
    log = MessageLog()
    if stream == "messages":
        return [log.details(i) for i in range(MESSAGES_SAMPLED)]
    entries = log.history if stream == "message_history" else log.output
    return [
        {**entry, "message_id": log.message_id(i), "enqueued": log.details(i)["enqueued"]}
        for i in range(MESSAGES_SAMPLED)
        for entry in entries(i)
    ]


def _undeclared(value: Any, node: Mapping[str, Any], path: str) -> Iterator[str]:
    """Paths of the keys the schema does not declare where it lists fields (free-form objects take anything)."""
    if isinstance(value, dict):
        properties, extra = node.get("properties"), node.get("additionalProperties", True)
        for key, child in value.items():
            child_path = f"{path}.{key}" if path else key
            if properties and key in properties:
                yield from _undeclared(child, properties[key], child_path)
            elif isinstance(extra, Mapping):
                yield from _undeclared(child, extra, child_path)
            elif properties:
                yield child_path
    elif isinstance(value, list) and isinstance(node.get("items"), Mapping):
        for child in value:
            yield from _undeclared(child, node["items"], f"{path}[]")


@pytest.mark.parametrize("stream", STREAMS)
def test_every_record_the_emulator_serves_validates_against_the_stream_schema(stream):
    validator = Draft7Validator(stream_schema(stream))  # format checking off, as in Airbyte
    records = emulator_records(stream)

    errors = [
        f"{stream} record {i}: /{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for i, record in enumerate(records)
        for error in validator.iter_errors(record)
    ]

    assert records, f"the emulator serves no {stream}"
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("stream", STREAMS)
def test_every_field_the_emulator_sends_is_declared(stream):
    schema = stream_schema(stream)

    undeclared = sorted({path for record in emulator_records(stream) for path in _undeclared(record, schema, "")})

    assert not undeclared, f"{stream}: fields the emulator sends that the schema does not declare: {undeclared}"
