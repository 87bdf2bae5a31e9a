"""Airbyte source connector for Courier (courier.com)."""

from source_courier.source import SourceCourier

__all__ = ["SourceCourier"]
