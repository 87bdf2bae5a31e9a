"""Automations and journeys: their templates, their runs and the runs' steps.

* ``/automations`` and ``/journeys``: paging C (``workspace.page_size`` a page), ``version=published|draft``
  (default published; the last template of each is draft-only, listed only as ``draft``). Templates carry
  camelCase ``createdAt``/``updatedAt``.
* ``/automations/runs`` and ``/journeys/runs``: paging D (journey runs also send ``prev_cursor``); ``start_date``
  /``end_date`` inclusive bounds on ``created_at``, ``status`` and ``template_id`` comma lists. Newest first;
  every run is within the 95-day retention window.
* ``/automations/runs/{id}/steps``, ``/journeys/runs/{id}`` and ``/journeys/runs/{id}/steps`` (``{"steps"}``,
  not paged; journey steps are ``JourneyRunStep``s: ``node_id``, ``error``, ``skip_reason``).
* ``/journeys/{template_id}/versions`` (``JourneyVersionsListResponse``): paging A over ``results``, most recent
  first, ``workspace.page_size`` a page. The SDK documents no ``cursor`` parameter, yet the response carries one
  (H.4): the emulator honours it, and the ``repeat-cursor`` fault applies, as on any paging-A list. Versions are
  ``vN`` with epoch-ms ``created``/``published``; the draft-only journey has none (an empty last page).
* ``/journeys/{template_id}/templates`` (``JourneyTemplateListResponse``): paging A over ``results`` with
  ``limit`` (1-100, else 400; default ``workspace.page_size``), the journey's notification templates (``nt_...``
  ids, epoch-ms ``created``/``updated``, ``state``, ``tags``) in creation order.

An unknown journey id is a 404. Builds, per kind (``"automations"``, ``"journeys"``):
``workspace.automation_templates[kind]``, ``automation_runs[kind]`` (newest first), ``run_ms[kind]`` (their
``created_at`` in ms) and ``run_index[kind]`` (run id -> (position, run)); and ``journey_versions`` and
``journey_notification_templates`` (journey id -> list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import iso
from courier_emulator.paging import limit, paging_a, paging_c, paging_d
from courier_emulator.registry import WORKSPACE_ROUTES, InvalidRequest, Request, builds, lookup, parse_instant, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

RUN_RETENTION_DAYS = 95
AUTOMATIONS = per_size(small=4, demo=6)  # templates, the last one draft-only
JOURNEYS = per_size(small=4, demo=6)
RUNS = per_size(small=30, demo=150)  # per kind
_AUTOMATIONS = ("Onboarding drip", "Trial expiry reminder", "Abandoned cart", "Weekly digest", "Re-engagement")
_JOURNEYS = ("Welcome journey", "Upgrade nudge", "Renewal", "Win-back", "Feedback loop")
_JOURNEY_VERSIONS = (3, 1, 2, 4, 2)  # per published journey, by index: small pages 2 at a time
_JOURNEY_TEMPLATES = (2, 1, 3, 1, 2)  # notification templates per journey, by index
_CHANNELS = ("email", "sms", "push", "inbox")
_TAGS = ("journey", "lifecycle", "transactional")
_RUN_STATUSES = (
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "ERROR",
    "WAITING",
    "CANCELED",
    "THROTTLED",
    "PROCESSING",
    "NOT PROCESSED",
)


@builds("automations")
def build_automations(ws: Workspace) -> dict[str, int]:
    ws.automation_templates = {}
    ws.automation_runs = {}
    ws.run_index = {}
    ws.run_ms = {}
    for kind, names, count in (
        ("automations", _AUTOMATIONS, AUTOMATIONS[ws.size]),
        ("journeys", _JOURNEYS, JOURNEYS[ws.size]),
    ):
        templates: list[Json] = []
        for i in range(count):
            created = ws.ago(kind, i, 30, 400)
            templates.append(
                {
                    "id": ws.uuid(kind, i),
                    "name": names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else ""),
                    "draft_only": i == count - 1,
                    "createdAt": iso(created),
                    "updatedAt": iso(ws.after(kind, i, created)),
                }
            )
        ws.automation_templates[kind] = templates
        if kind == "journeys":
            _build_journey_versions_and_templates(ws, templates)
        published = [t for t in templates if not t["draft_only"]]
        runs: list[Json] = []
        ws.run_ms[kind] = ws.spread(f"{kind}-run", RUNS[ws.size], RUN_RETENTION_DAYS)
        for i, created_ms in enumerate(ws.run_ms[kind]):
            template = published[ws.h(kind, "run-template", i) % len(published)]
            trigger = ws.h(kind, "run-source", i) % 3
            source = [f"invoke/{template['id']}"] if trigger else ["segment/track/Signed Up"]
            runs.append(
                {
                    "run_id": ws.uuid(kind, "run", i),
                    "source": source,
                    "created_at": iso(created_ms),
                    "status": _RUN_STATUSES[ws.h(kind, "run-status", i) % len(_RUN_STATUSES)],
                    "template_id": template["id"],
                }
            )
        ws.automation_runs[kind] = runs
        ws.run_index[kind] = {run["run_id"]: (i, run) for i, run in enumerate(runs)}
    return {
        "automations": len(ws.automation_templates["automations"]),
        "journeys": len(ws.automation_templates["journeys"]),
        "automation_runs": len(ws.automation_runs["automations"]),
        "journey_runs": len(ws.automation_runs["journeys"]),
        "journey_versions": sum(len(versions) for versions in ws.journey_versions.values()),
        "journey_templates": sum(len(templates) for templates in ws.journey_notification_templates.values()),
    }


def _build_journey_versions_and_templates(ws: Workspace, journeys: list[Json]) -> None:
    ws.journey_versions = {}
    ws.journey_notification_templates = {}
    for i, journey in enumerate(journeys):
        created = ws.ago("journeys", i, 30, 400)  # the journey's createdAt and updatedAt, in ms
        updated = ws.after("journeys", i, created)
        count = 0 if journey["draft_only"] else _JOURNEY_VERSIONS[i % len(_JOURNEY_VERSIONS)]
        versions: list[Json] = []
        for v in range(count, 0, -1):  # most recent first
            made = created + (updated - created) * v // (count + 1)
            versions.append(
                {
                    "version": f"v{v}",
                    "name": journey["name"],
                    "created": made,
                    "creator": ws.member("journey-version", i * 100 + v)[0],
                    "published": made + ws.h("journey-version-published", i, v) % 3_600_000,
                }
            )
        ws.journey_versions[journey["id"]] = versions
        templates: list[Json] = []
        for k in range(_JOURNEY_TEMPLATES[i % len(_JOURNEY_TEMPLATES)]):
            key = i * 100 + k
            made = ws.after("journey-template", key, created)
            channel = _CHANNELS[(i + k) % len(_CHANNELS)]
            template: Json = {
                "id": "nt_" + ws.courier_id("journey-template", key, length=26),
                "name": f"{journey['name']}: {channel} {k + 1}",
                "created": made,
                "creator": ws.member("journey-template", key)[0],
                "state": "DRAFT" if journey["draft_only"] or k % 3 == 2 else "PUBLISHED",
                "tags": list(_TAGS[: (i + k) % 3]),
            }
            if k % 2 == 0:
                template["updated"] = ws.after("journey-template-updated", key, made)
                template["updater"] = ws.member("journey-template-updater", key)[0]
            templates.append(template)
        ws.journey_notification_templates[journey["id"]] = sorted(templates, key=lambda t: t["created"])


def _templates(ws: Workspace, request: Request, kind: str) -> Json:
    version = request.param("version") or "published"
    if version not in ("published", "draft"):
        raise InvalidRequest(f"Invalid version: expected published or draft, got {version!r}")
    templates = [
        {"id": t["id"], "name": t["name"], "version": version, "createdAt": t["createdAt"], "updatedAt": t["updatedAt"]}
        for t in ws.automation_templates[kind]
        if version == "draft" or not t["draft_only"]
    ]
    return paging_c(request, templates, "id", f"{request.path}?version={version}", ws.page_size)


def _runs(ws: Workspace, request: Request, kind: str) -> Json:
    start_date, end_date = request.param("start_date"), request.param("end_date")
    lower = parse_instant(start_date, "start_date") if start_date else None
    upper = parse_instant(end_date, "end_date", upper=True) if end_date else None
    statuses, template_ids = request.csv("status"), request.csv("template_id")
    runs = [
        run
        for run, created_ms in zip(ws.automation_runs[kind], ws.run_ms[kind], strict=True)
        if (lower is None or created_ms >= lower)
        and (upper is None or created_ms <= upper)
        and (statuses is None or run["status"] in statuses)
        and (template_ids is None or run["template_id"] in template_ids)
    ]
    return paging_d(request, runs, "run_id", backward=kind == "journeys")


def _steps(ws: Workspace, kind: str, run_id: str) -> list[Json]:
    i, run = lookup(ws.run_index[kind], run_id)
    created = ws.run_ms[kind][i]
    actions = ["send", "delay", "send", "exit"][: 1 + ws.h(kind, "steps", i) % 3]
    final = {"NOT PROCESSED": "SKIPPED"}.get(run["status"], run["status"])
    steps: list[Json] = []
    for k, action in enumerate(actions):
        status = final if k == len(actions) - 1 else "PROCESSED"
        started = created + k * 60_000
        step: Json = {
            "action": action,
            "status": status,
            "created_at": iso(started),
            "updated_at": iso(started + 1_500),
        }
        if action == "send" and status == "PROCESSED":
            step["message_id"] = f"1-{started // 1000:08x}-{ws.digest(kind, 'message', i, k, size=12).hex()}"
        if kind == "automations":
            step["step_id"] = ws.uuid(kind, "step", i, k)
        else:
            step["node_id"] = f"node_{k + 1}"
            step["error"] = {"message": "Fetch failed: GET api.example.com returned 404"} if status == "ERROR" else None
            step["skip_reason"] = "Node conditions not met" if status == "SKIPPED" else None
        steps.append(step)
    return steps


@WORKSPACE_ROUTES.get("/automations")
def list_automations(ws: Workspace, request: Request) -> Json:
    return _templates(ws, request, "automations")


@WORKSPACE_ROUTES.get("/automations/runs")
def list_automation_runs(ws: Workspace, request: Request) -> Json:
    return _runs(ws, request, "automations")


@WORKSPACE_ROUTES.get("/automations/runs/{id}/steps")
def list_automation_run_steps(ws: Workspace, request: Request) -> Json:
    return {"steps": _steps(ws, "automations", request.ids[0])}


@WORKSPACE_ROUTES.get("/journeys")
def list_journeys(ws: Workspace, request: Request) -> Json:
    return _templates(ws, request, "journeys")


@WORKSPACE_ROUTES.get("/journeys/runs")
def list_journey_runs(ws: Workspace, request: Request) -> Json:
    return _runs(ws, request, "journeys")


@WORKSPACE_ROUTES.get("/journeys/runs/{id}")
def retrieve_journey_run(ws: Workspace, request: Request) -> Json:
    i, run = lookup(ws.run_index["journeys"], request.ids[0])
    created = ws.run_ms["journeys"][i]
    return {"run": {**run, "updated_at": iso(ws.after("journey-run-updated", i, created))}}


@WORKSPACE_ROUTES.get("/journeys/runs/{id}/steps")
def list_journey_run_steps(ws: Workspace, request: Request) -> Json:
    return {"steps": _steps(ws, "journeys", request.ids[0])}


@WORKSPACE_ROUTES.get("/journeys/{id}/versions")
def list_journey_versions(ws: Workspace, request: Request) -> Json:
    return paging_a(request, lookup(ws.journey_versions, request.ids[0]), "version", "results", ws.page_size)


@WORKSPACE_ROUTES.get("/journeys/{id}/templates")
def list_journey_templates(ws: Workspace, request: Request) -> Json:
    templates = lookup(ws.journey_notification_templates, request.ids[0])
    size = limit(request, default=ws.page_size, maximum=100, clamp=False)
    return paging_a(request, templates, "id", "results", size)
