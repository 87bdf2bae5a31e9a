"""The messages schema and the manifest, checked against Courier's SDK and the CDK's own schema."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest
import yaml
from courier.types.message_details import MessageDetails
from courier.types.message_retrieve_response import MessageRetrieveResponse

from scripts.builder_manifest import validate
from unit_tests.builders import message

PACKAGE = resources.files("source_courier")
SCHEMA = json.loads((PACKAGE / "schemas" / "messages.json").read_text())


def test_schema_declares_every_field_of_couriers_message_details():
    # trycourier is generated from Courier's OpenAPI spec: a documented field can never be silently dropped.
    assert set(MessageDetails.model_fields) <= set(SCHEMA["properties"])
    assert set(MessageRetrieveResponse.model_fields) <= set(SCHEMA["properties"])  # adds `providers`


def test_every_field_but_id_is_nullable_and_extra_fields_are_allowed():
    nullable = {name for name, field in SCHEMA["properties"].items() if "null" in field["type"]}

    assert set(SCHEMA["properties"]) - nullable == {"id"}
    assert SCHEMA["additionalProperties"] is True
    assert SCHEMA["properties"]["enqueued"]["type"] == ["null", "integer"]
    assert "enum" not in SCHEMA["properties"]["status"] and "enum" not in SCHEMA["properties"]["reason"]


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(message("1-5e2b2615-05efbb3acab9172f88dd3f6f"), id="delivered"),
        pytest.param(
            {
                "id": "1-5e2b2615-05efbb3acab9172f88dd3f6f",
                "status": "CLICKED",
                "enqueued": 1562611073426,
                "sent": 1562611074138,
                "delivered": 1562611077139,
                "opened": 1562611083411,
                "clicked": 1562611084123,
                "recipient": "CC607F6E84A34305AE98B72C",
                "event": "my-event",
                "notification": "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4",
                "error": None,
                "reason": None,
            },
            id="courier-docs-sample",
        ),
        pytest.param({key: None for key in SCHEMA["properties"] if key != "id"} | {"id": "m1"}, id="all-null"),
        pytest.param({"id": "m1"}, id="only-id"),
        pytest.param(
            message("m1", status="DIGESTED", reason="BOUNCED", tags=["welcome"]), id="new-enums-and-extra-field"
        ),
        pytest.param(
            message("m1", providers=[{"provider": "sendgrid", "providerResponse": {"id": "x"}}]), id="providers"
        ),
    ],
)
def test_sample_records_validate_against_the_schema(record):
    jsonschema.validate(record, SCHEMA)


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(message("m1") | {"enqueued": "2024-01-01"}, id="enqueued-as-text"),
        pytest.param({"status": "SENT"}, id="missing-id"),
    ],
)
def test_records_of_the_wrong_shape_fail_the_schema(record):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, SCHEMA)


def test_manifest_validates_against_the_cdk_declarative_schema():
    manifest = yaml.safe_load((PACKAGE / "manifest.yaml").read_text())

    validate(manifest)  # raises unless the CDK's declarative_component_schema.yaml accepts it
