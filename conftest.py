"""Test-session speed-up shared by every in-process test: what is the same for every source is done once.

Building a `SourceCourier` took 0.42 s, none of it depending on the config: parsing the manifest YAML and the
CDK's own component schema, resolving every `$ref` and propagating types and parameters, and validating the
result against that schema. Each step is memoised here by its input (the file, or the manifest's content), so
each distinct manifest (the packaged one, each Builder export) is parsed, resolved and validated once per test
process; every source still gets its own copy. `unit_tests/test_schema.py` and the exports' tests validate for
real, and the CLI runs in subprocesses are untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from airbyte_cdk.sources.declarative import concurrent_declarative_source
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource


def _digest(manifest: Any) -> str:
    return hashlib.sha256(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _copies(compute: Callable[..., Any], key: Callable[..., Any]) -> Callable[..., Any]:
    """`compute`, run once per key; each call gets its own copy of the result."""
    done: dict[Any, bytes] = {}

    def once(*args: Any) -> Any:
        k = key(*args)
        if k not in done:
            done[k] = orjson.dumps(compute(*args))
        return orjson.loads(done[k])

    return once


@pytest.fixture(scope="session", autouse=True)
def build_sources_from_memoised_manifests() -> Iterator[None]:
    validate = ConcurrentDeclarativeSource._validate_source
    valid: set[str] = set()

    def validate_once(self: ConcurrentDeclarativeSource) -> None:
        key = _digest(self._source_config)
        if key not in valid:
            validate(self)
            valid.add(key)

    with pytest.MonkeyPatch.context() as patch:
        schema = concurrent_declarative_source.get_declarative_component_schema
        patch.setattr(concurrent_declarative_source, "get_declarative_component_schema", _copies(schema, lambda: 0))
        read_yaml = YamlDeclarativeSource._read_and_parse_yaml_file
        patch.setattr(
            YamlDeclarativeSource,
            "_read_and_parse_yaml_file",
            _copies(read_yaml, lambda self, path: (type(self).__module__, path)),
        )
        pre_process = ConcurrentDeclarativeSource._pre_process_manifest
        patch.setattr(
            ConcurrentDeclarativeSource, "_pre_process_manifest", _copies(pre_process, lambda self, m: _digest(m))
        )
        patch.setattr(ConcurrentDeclarativeSource, "_validate_source", validate_once)
        yield
