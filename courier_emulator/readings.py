"""Readings: where Courier's docs/SDK and the live API (reference section H) disagree, the emulator serves either.

One setting per reading; the default is the live-probed reading where section H has a probe, else Courier's
documented one:

* ``auth_failure_status``: the answer to a missing or wrong key. 403 (default; H.1, probed on the live API)
  ``{"message": "Invalid or missing authentication credentials", "type": "authorization_error"}``, or 401 (the
  SDK's and docs' reading) ``{"message": "Unauthorized", "type": "authentication_error"}``. The ``401`` and
  ``403`` fault kinds are not readings: they answer as before whatever this says.
* ``honour_messages_limit``: ``GET /messages`` with ``limit``. False (default; Courier documents 10 a page, and
  H.2 only shows that ``limit`` is accepted): 10 a page whatever ``limit`` says, any value accepted. True:
  ``limit`` from 1 to 100 is the page size; outside that range, or not an integer, a 400.
* ``apply_enqueued_after``: True (default; documented, H.3 has no probe): ``/messages`` keeps only the messages
  enqueued at or after it. False: the value is recorded (``/__admin/requests``, the stats' ``filters``) but
  neither parsed nor applied, so the whole log comes back, newest first.

Set them with ``run_in_thread(auth_failure_status=401, ...)`` (``make_server``'s keywords), the CLI flags
``--auth-failure-status {401,403}``, ``--messages-limit {ignored,honoured}`` and ``--ignore-enqueued-after``,
or at run time: ``GET /__admin/readings`` shows them, ``POST /__admin/readings`` with a JSON object of these
keys (all optional: a missing key takes its default) replaces them, as ``RunningEmulator.set_readings(...)``
does. They are not part of the fault plan, so replacing the plan (``set_faults``) leaves them alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

AUTH_FAILURES: dict[int, dict[str, str]] = {
    401: {"message": "Unauthorized", "type": "authentication_error"},
    403: {"message": "Invalid or missing authentication credentials", "type": "authorization_error"},
}
DEFAULT_AUTH_FAILURE_STATUS = 403


@dataclass(frozen=True)
class Readings:
    auth_failure_status: int = DEFAULT_AUTH_FAILURE_STATUS
    honour_messages_limit: bool = False
    apply_enqueued_after: bool = True

    def __post_init__(self) -> None:
        status = self.auth_failure_status
        if isinstance(status, bool) or not isinstance(status, int) or status not in AUTH_FAILURES:
            raise ValueError(f"auth_failure_status must be 401 or 403, got {status!r}")
        for name in ("honour_messages_limit", "apply_enqueued_after"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_json(cls, body: Any) -> Readings:
        """The readings ``POST /__admin/readings`` describes; ``ValueError`` with a readable message if invalid."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        unknown = set(body) - {field.name for field in fields(cls)}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        return cls(**body)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def auth_failure(self) -> tuple[int, dict[str, str]]:
        """``(status, body)`` for a request without the right key."""
        return self.auth_failure_status, dict(AUTH_FAILURES[self.auth_failure_status])


DEFAULT_READINGS = Readings()
