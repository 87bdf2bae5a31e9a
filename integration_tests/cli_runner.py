"""Runs the `source-courier` CLI and reads its Airbyte messages: in this process by default, its entrypoint
(`source_courier.run.run`) with this argv, stdout and environment, or as the installed console script in a
subprocess where a test says so (each command once, another executable, another working directory).

Every run's stdout and stderr is kept in `OUTPUTS`; `conftest.py` scans them all at the end of the session
for the canary keys below.
"""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

from unit_tests.builders import refused_key as refused_key  # the manifest's auth message, shared with unit tests

# Long and distinctive, so a leak into any output is unmistakable.
API_KEY = "pk_test_CANARY_cli_4b8e2f6a0c9d1e3f5a7b9c2d4e6f8a0b1c3d5e7f9"
WRONG_KEY = "pk_test_CANARY_cli_wrong_9e7c5a3b1d0f2e4a6c8b0d2f4a6c8e0b2d4f6a8"
CANARIES = (API_KEY, WRONG_KEY)
CLI = Path(sys.executable).with_name("source-courier")
CATALOG = Path(__file__).with_name("configured_catalog.json")
# DEBUG: what the CDK prints for a debug log under `--debug` when LOG_LEVEL is not `debug` (outside the platform).
PROTOCOL_TYPES = {"RECORD", "STATE", "LOG", "SPEC", "CONNECTION_STATUS", "CATALOG", "TRACE", "CONTROL", "DEBUG"}
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
OUTPUTS: list[str] = []


def cli(
    tmp_path: Path,
    command: str,
    config: dict[str, Any] | None = None,
    *,
    executable: Sequence[str] = (str(CLI),),
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    in_subprocess: bool = False,
    **files: Any,
) -> tuple[int, list[dict]]:
    """Runs one command of the CLI (in a subprocess if asked, or if `executable` or `cwd` is given); returns its
    exit code and its stdout, which must be protocol messages only. `env` replaces the environment."""
    args = [command, *extra_args]
    for name, content in (({"config": config} if config is not None else {}) | files).items():
        path = tmp_path / f"{name}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        args += [f"--{name}", str(path)]
    if in_subprocess or tuple(executable) != (str(CLI),) or cwd is not None:
        done = subprocess.run([*executable, *args], capture_output=True, text=True, timeout=900, env=env, cwd=cwd)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    else:
        code, stdout, stderr = _in_process(args, env)
    OUTPUTS.extend([stdout, stderr])
    messages = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert all(message.get("type") in PROTOCOL_TYPES for message in messages), stdout
    return code, messages


def _in_process(args: list[str], env: Mapping[str, str] | None) -> tuple[int, str, str]:
    """The console script's entrypoint, called here: the CDK's print buffer writes to `sys.__stdout__`."""
    from source_courier.run import run

    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        mock.patch.object(sys, "argv", [str(CLI), *args]),
        mock.patch.object(sys, "stdout", stdout),
        mock.patch.object(sys, "__stdout__", stdout),
        mock.patch.object(sys, "stderr", stderr),
        mock.patch.dict(os.environ, env or os.environ, clear=True),
    ):
        try:
            run()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 1
        finally:
            gc.unfreeze()  # `run()` freezes what it built, for its process's exit; this process goes on
    return code, stdout.getvalue(), stderr.getvalue()


def key_forms(key: str) -> list[str]:
    """The key as sent, as pasted into the config, and as that paste reads inside JSON."""
    return [key, f" {key}\n", json.dumps(f" {key}\n")[1:-1]]


def discovered_catalog(
    tmp_path: Path, config: dict[str, Any], streams: Sequence[str] | None = None, mode: str | None = None
) -> dict[str, Any]:
    """The configured catalog of these streams (every one `discover` declares, if None), all in `mode`, or each
    incremental where it can be if `mode` is None."""
    code, messages = cli(tmp_path, "discover", config)
    assert code == 0
    (discovered,) = of_type(messages, "CATALOG")
    by_name = {stream["name"]: stream for stream in discovered["streams"]}
    configured = []
    for name in by_name if streams is None else streams:
        stream = by_name[name]
        sync_mode = mode or ("incremental" if "incremental" in stream["supported_sync_modes"] else "full_refresh")
        incremental = sync_mode == "incremental"
        configured.append(
            {
                "stream": stream,
                "sync_mode": sync_mode,
                "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                "primary_key": stream.get("source_defined_primary_key"),  # journey_run_steps has none
                **({"cursor_field": stream["default_cursor_field"]} if incremental else {}),
            }
        )
    return {"streams": configured}


def read(tmp_path: Path, config: dict[str, Any], state: list[dict] | None = None) -> tuple[int, list[dict]]:
    files: dict[str, Any] = {"catalog": CATALOG.read_text()}
    if state is not None:
        files["state"] = state
    return cli(tmp_path, "read", config, **files)


def config(emulator_url: str, /, **overrides: Any) -> dict[str, Any]:
    """A config for the emulator, with the key padded the way a paste often leaves it."""
    return {"api_key": f" {API_KEY}\n", "base_url": emulator_url, **overrides}


def messages_state(enqueued: int) -> list[dict]:
    return [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "messages"}, "stream_state": {"enqueued": str(enqueued)}},
        }
    ]


def of_type(messages: list[dict], type_: str) -> list[dict]:
    key = {"CONNECTION_STATUS": "connectionStatus"}.get(type_, type_.lower())
    return [message[key] for message in messages if message["type"] == type_]


def record_ids(messages: list[dict]) -> list[str]:
    return [record["data"]["id"] for record in of_type(messages, "RECORD")]


def final_state(messages: list[dict]) -> dict:
    return of_type(messages, "STATE")[-1]["stream"]["stream_state"]


EMULATOR_REFUSAL = "Invalid or missing authentication credentials"  # the emulator's 403 message for a bad key


def error_traces(messages: list[dict]) -> list[dict]:
    return [trace["error"] for trace in of_type(messages, "TRACE") if trace["type"] == "ERROR"]


def logs(messages: list[dict]) -> list[str]:
    return [log["message"] for log in of_type(messages, "LOG")]
