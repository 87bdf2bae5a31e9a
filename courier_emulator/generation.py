"""Shared deterministic data helpers: every generated value is a function of ``(seed, kind, index, ...)``.

The hashes (``h``, ``digest``) do not depend on PYTHONHASHSEED nor on the order of the calls, so the same seed
gives the same workspace whatever the build order. "Now" is ``DEFAULT_ANCHOR_MS`` (2026-01-01T00:00:00Z): the
newest message of a default log, and every workspace timestamp is before it. ``Generator`` binds the helpers to
a seed and a now; ``Workspace`` is one, so build hooks write ``workspace.courier_id("brand", i)``.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence

DEFAULT_ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DAY_MS = 86_400_000
MEMBERS = ("ops@example.com", "dev@example.com", "marketing@example.com")  # the workspace's Studio members
TAGS = ("onboarding", "billing", "security", "product", "marketing")  # tags on templates and routing strategies
_ALPHANUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digest(seed: int, *parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b(repr((seed, *parts)).encode("utf-8"), digest_size=size).digest()


def h(seed: int, *parts: object) -> int:
    """A stable 64-bit number for ``(seed, *parts)`` (independent of PYTHONHASHSEED and of call order)."""
    return int.from_bytes(digest(seed, *parts, size=8), "big")


def courier_id(seed: int, *parts: object, length: int = 28) -> str:
    """Upper-case alphanumeric, like Courier's ``TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4``."""
    return "".join(_ALPHANUM[b % len(_ALPHANUM)] for b in digest(seed, *parts, size=length))


def uuid_of(seed: int, *parts: object) -> str:
    return str(uuid.UUID(bytes=digest(seed, *parts), version=4))


def iso(ms: int) -> str:
    """``2025-12-31T23:59:59.123Z`` for epoch ms."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


class Generator:
    """The helpers above bound to ``seed``, plus instants relative to ``anchor_ms`` (now)."""

    seed: int
    anchor_ms: int

    def h(self, *parts: object) -> int:
        return h(self.seed, *parts)

    def digest(self, *parts: object, size: int = 16) -> bytes:
        return digest(self.seed, *parts, size=size)

    def courier_id(self, *parts: object, length: int = 28) -> str:
        return courier_id(self.seed, *parts, length=length)

    def uuid(self, *parts: object) -> str:
        return uuid_of(self.seed, *parts)

    def ago(self, kind: str, i: int, min_days: int, max_days: int) -> int:
        """A whole-ms instant between ``max_days`` and ``min_days`` before now."""
        span = (max_days - min_days) * DAY_MS
        return self.anchor_ms - min_days * DAY_MS - self.h(kind, "ago", i) % max(span, 1)

    def after(self, kind: str, i: int, start_ms: int) -> int:
        """A whole-ms instant between ``start_ms`` and now."""
        return start_ms + self.h(kind, "after", i) % max(self.anchor_ms - start_ms, 1)

    def spread(self, kind: str, count: int, days: int) -> list[int]:
        """``count`` strictly decreasing instants (newest first) within the last ``days`` days."""
        step = days * DAY_MS // (count + 1)
        return [self.anchor_ms - (i + 1) * step + self.h(kind, "jitter", i) % (step // 2) for i in range(count)]

    def member(self, kind: str, i: int) -> tuple[str, str]:
        """``(id, email)`` of the Studio member who made object ``i`` of ``kind``."""
        k = self.h(kind, "member", i) % len(MEMBERS)
        return self.uuid("member", k), MEMBERS[k]

    def pick(self, kind: str, i: int, population: Sequence[int], count: int) -> list[int]:
        """``count`` members of ``population`` ranked by a seeded hash, returned in population order."""
        ranked = sorted(population, key=lambda member: self.h(kind, i, member))
        return sorted(ranked[: max(0, count)])
