"""The connector class: `manifest.yaml` run by the CDK's declarative engine."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource


class SourceCourier(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: ConfiguredAirbyteCatalog | None = None,
        config: Mapping[str, Any] | None = None,
        state: list[AirbyteStateMessage] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(catalog=catalog, config=config, state=state, path_to_yaml="manifest.yaml", **kwargs)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        # Building the streams runs the spec's config validations. Doing it here lets their config_error
        # reach the entrypoint, which reports it as a failed connection status naming the fix; inside
        # CheckStream it would be wrapped as "Encountered an error while discovering streams".
        self.streams(config)
        return super().check(logger, config)
