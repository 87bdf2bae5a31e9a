"""metadata.yaml, Airbyte's description of the connector: it validates against the CDK's model, holds the
values the archived connector's successor must have, agrees with pyproject.toml and the changelog, and gives
the platform enough time between messages for the longest retry the manifest allows. icon.svg is square and
self-contained."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID
from xml.etree import ElementTree

import pytest
import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile

from source_courier.components import CourierErrorHandler

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on the tomli backport before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "metadata.yaml"
ICON = ROOT / "icon.svg"
PYPROJECT = ROOT / "pyproject.toml"
DOCS = ROOT / "docs" / "courier.md"
MANIFEST = ROOT / "source_courier" / "manifest.yaml"

ARCHIVED_DEFINITION_ID = "0541b2cd-2367-4986-b5f1-b79ff55439e4"
MIGRATION_GUIDE = "https://docs.airbyte.com/integrations/sources/courier-migrations"
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
# The CDK sleeps one second longer than any backoff it is given (test_error_handling: a capped wait is 601 s).
CDK_EXTRA_SECOND = 1

EXPECTED = {
    "name": "Courier",
    "connectorType": "source",
    "connectorSubtype": "api",
    "definitionId": ARCHIVED_DEFINITION_ID,
    "dockerRepository": "airbyte/source-courier",
    "documentationUrl": "https://docs.airbyte.com/integrations/sources/courier",
    "githubIssueLabel": "source-courier",
    "icon": "courier.svg",
    "license": "MIT",
    "releaseStage": "alpha",
    "supportLevel": "community",
    "allowedHosts": {"hosts": ["api.courier.com"]},
    "registryOverrides": {"oss": {"enabled": True}, "cloud": {"enabled": False}},
    "ab_internal": {"sl": 100, "ql": 100},
}
# Every key is one of Airbyte's ConnectorMetadataDefinitionV0 fields; the CDK's model accepts any extra key,
# so a misspelt one would otherwise pass unnoticed.
EXPECTED_KEYS = set(EXPECTED) | {"dockerImageTag", "tags", "maxSecondsBetweenMessages", "releases"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def data(document: dict[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = document["data"]
    return section


def changelog_rows() -> list[list[str]]:
    """The cells of each row of the `## Changelog` table in docs/courier.md, newest first, header excluded."""
    _, heading, section = DOCS.read_text(encoding="utf-8").partition("\n## Changelog\n")
    assert heading, "docs/courier.md has no '## Changelog' section"
    rows = []
    for line in section.splitlines():
        if line.startswith("## "):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, separator, *body = rows
    assert header[:3] == ["Version", "Date", "Subject"]
    assert set("".join(separator)) <= set("-: ")
    assert body, "the changelog table has no rows"
    return body


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def walk(node: Any) -> list[dict[str, Any]]:
    """Every mapping in a parsed YAML document, nested ones included."""
    if isinstance(node, dict):
        return [node, *(found for value in node.values() for found in walk(value))]
    if isinstance(node, list):
        return [found for item in node for found in walk(item)]
    return []


def test_metadata_validates_against_the_cdks_metadata_model():
    metadata = MetadataFile.from_file(METADATA)

    assert metadata.data.dockerRepository == "airbyte/source-courier"
    assert metadata.data.language == ConnectorLanguage.PYTHON
    # No baseImage: the repository's own Dockerfile builds the image.
    assert metadata.data.connectorBuildOptions is None


def test_metadata_holds_only_fields_of_airbytes_metadata_schema(document, data):
    assert set(document) == {"metadataSpecVersion", "data"}
    assert document["metadataSpecVersion"] == "1.0"
    assert set(data) == EXPECTED_KEYS


@pytest.mark.parametrize("field", sorted(EXPECTED))
def test_metadata_field_has_the_value_airbyte_expects(data, field):
    assert data[field] == EXPECTED[field]


def test_definition_id_is_written_as_a_canonical_uuid(data):
    assert str(UUID(data["definitionId"])) == data["definitionId"]


def test_tags_name_a_low_code_python_connector_exactly(data):
    assert sorted(data["tags"]) == ["cdk:low-code", "language:python"]


def test_license_is_the_one_pyproject_declares(data):
    pyproject = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    assert data["license"] == pyproject["project"]["license"] == "MIT"


def test_image_tag_is_the_pyproject_version_and_the_newest_changelog_entry(data):
    pyproject_version = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["version"]
    newest_changelog_version = changelog_rows()[0][0]

    assert isinstance(data["dockerImageTag"], str)
    assert data["dockerImageTag"] == pyproject_version == newest_changelog_version


def test_1_0_0_is_declared_a_breaking_change_pointing_to_the_migration_guide(data):
    changes = data["releases"]["breakingChanges"]
    assert set(data["releases"]) == {"breakingChanges"}
    assert set(changes) == {"1.0.0"}
    change = changes["1.0.0"]
    assert set(change) == {"message", "upgradeDeadline"}
    assert MIGRATION_GUIDE in change["message"]
    assert change["upgradeDeadline"] == "2027-03-01"
    # The page that URL publishes: docs/courier-migrations.md, with the section Airbyte links to (#upgrading-to-100).
    guide = (ROOT / "docs" / "courier-migrations.md").read_text()
    assert "\n## Upgrading to 1.0.0\n" in guide

    released = {row[0]: row[1] for row in changelog_rows()}
    assert "1.0.0" in released, "the changelog has no 1.0.0 row"
    assert date.fromisoformat(change["upgradeDeadline"]) > date.fromisoformat(released["1.0.0"])
    assert version_tuple("1.0.0") <= version_tuple(data["dockerImageTag"])


def retry_limits() -> dict[str, float]:
    """What bounds one request's retries, from every CourierErrorHandler the manifest declares (the class's
    defaults where a definition leaves a field out) and the requesters' timeouts; the worst of each."""
    mappings = walk(yaml.safe_load(MANIFEST.read_text(encoding="utf-8")))
    handlers = [
        found for found in mappings if found.get("class_name") == "source_courier.components.CourierErrorHandler"
    ]
    connect_timeouts = [
        found["connect_timeout_in_seconds"] for found in mappings if "connect_timeout_in_seconds" in found
    ]
    read_timeouts = [found["read_timeout_in_seconds"] for found in mappings if "read_timeout_in_seconds" in found]
    assert handlers and connect_timeouts and read_timeouts, (
        "the manifest no longer declares the handler or the timeouts"
    )

    def worst(name: str) -> float:
        return float(max(found.get(name, getattr(CourierErrorHandler, name)) for found in handlers))

    return {
        "max_retries": worst("max_retries"),
        "max_time": worst("max_time"),
        # The longest wait for a 429: the capped Retry-After, plus the second the CDK adds.
        "rate_limit_wait": worst("max_wait_seconds") + CDK_EXTRA_SECOND,
        # The longest one attempt can take.
        "attempt": max(connect_timeouts) + max(read_timeouts),
    }


def rate_limit_loop(limits: dict[str, float]) -> float:
    """The longest the CDK retries 429s (the waits CourierErrorHandler gives) for one request: the last retry
    starts before `max_time` has passed (its attempt, then the longest wait, then one more attempt), and there are
    at most `max_retries` waits."""
    by_time = limits["max_time"] + limits["attempt"] + limits["rate_limit_wait"] + limits["attempt"]
    by_count = (limits["max_retries"] + 1) * limits["attempt"] + limits["max_retries"] * limits["rate_limit_wait"]
    return min(by_time, by_count)


def test_max_seconds_between_messages_outlasts_a_request_retried_for_429s_or_for_other_faults_alone(data):
    """The platform counts only records and state, so the silence to allow is one request's whole retry
    sequence. Answered only 429s: the CDK's rate-limit loop. Answered only other faults (5xx, timeouts, a 200
    without the envelope): the CDK's own backoff trims its waits to what is left of `max_time`, so the last
    attempt starts by then, plus one attempt's time it does not count."""
    limits = retry_limits()
    other_faults_alone = limits["max_time"] + 2 * limits["attempt"]

    assert (rate_limit_loop(limits), other_faults_alone) == (1441, 840)
    assert isinstance(data["maxSecondsBetweenMessages"], int)
    assert data["maxSecondsBetweenMessages"] > max(rate_limit_loop(limits), other_faults_alone)


def test_max_seconds_between_messages_outlasts_one_request_retried_to_the_end(data):
    """The CDK retries 429s inside each attempt of its backoff for other faults, each loop with its own
    `max_time`: an attempt of the outer loop may be a whole 429 loop. The outer loop's last retried attempt
    starts before `max_time`, its wait ends by `max_time` plus that attempt, then comes one more attempt."""
    limits = retry_limits()
    attempt = rate_limit_loop(limits)
    by_time = limits["max_time"] + 2 * attempt
    by_count = (limits["max_retries"] + 1) * attempt + limits["max_time"]  # the waits never pass max_time
    longest_silence = min(by_time, by_count)

    assert longest_silence == 3482
    assert data["maxSecondsBetweenMessages"] > longest_silence


def test_icon_is_a_square_svg():
    root = ElementTree.parse(ICON).getroot()

    assert root.tag == f"{{{SVG_NAMESPACE}}}svg"
    min_x, min_y, width, height = (float(number) for number in root.attrib["viewBox"].replace(",", " ").split())
    assert (min_x, min_y) == (0, 0)
    assert width == height > 0
    if "width" in root.attrib or "height" in root.attrib:
        assert root.attrib["width"] == root.attrib["height"]


def test_icon_is_small_and_references_nothing_outside_itself():
    assert ICON.stat().st_size < 2048
    elements = list(ElementTree.parse(ICON).getroot().iter())
    tags = {element.tag.rpartition("}")[2] for element in elements}
    assert not tags & {"script", "image", "foreignObject", "use", "style"}
    for element in elements:
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), f"event handler {name} on <{element.tag}>"
            assert "href" not in name and "url(" not in value, f"reference {name}={value!r} on <{element.tag}>"


@pytest.mark.parametrize(
    ("document", "limit"),
    [("README.md", 10_000), ("docs/courier.md", 20_000), ("CONTRIBUTING.md", 12_000)],
)
def test_the_docs_stay_lean(document: str, limit: int) -> None:
    assert len((ROOT / document).read_bytes()) <= limit  # house rule 9: a reviewer reads them in one sitting
