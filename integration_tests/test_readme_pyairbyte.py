"""The README's PyAirbyte snippet, run as written against the emulator: only the config it passes changes."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from courier_emulator.data import MessageLog
from courier_emulator.server import run_in_thread
from integration_tests.cli_runner import API_KEY, OUTPUTS

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- `make test` runs the next block against the emulator (integration_tests/test_readme_pyairbyte.py). -->"
README_CONFIG = '{"api_key": "YOUR_COURIER_API_KEY", "start_date": "2024-01-01"}'


def readme_snippet() -> str:
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(re.escape(MARKER) + r"\n```python\n(.*?)```", readme, flags=re.DOTALL)
    return block


def test_readme_pyairbyte_snippet_reads_the_emulators_messages_into_duckdb(tmp_path):
    snippet = readme_snippet()
    assert snippet.count(README_CONFIG) == 1 and 'local_executable=".venv/bin/source-courier"' in snippet
    # The snippet's relative paths (.venv/bin/source-courier, the .cache/ it writes) resolve from a scratch
    # directory that sees this checkout's virtualenv.
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the virtualenv running the tests
    env = {key: value for key, value in os.environ.items() if key not in ("AIRBYTE_OFFLINE_MODE", "DO_NOT_TRACK")}

    with run_in_thread(api_key=API_KEY, messages=25) as courier:
        config = f'{{"api_key": "{API_KEY}", "start_date": "2024-01-01", "base_url": "{courier.base_url}"}}'
        done = subprocess.run(
            [sys.executable, "-c", snippet.replace(README_CONFIG, config)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,  # the snippet sets the offline variables itself
            timeout=600,
        )
        requested = [request["path"] for request in courier.requests()]
    OUTPUTS.extend([done.stdout, done.stderr])

    assert done.returncode == 0, done.stderr[-3000:]
    # Its last line is the SQL answer: one row per status, counted from the cache PyAirbyte wrote.
    log = MessageLog(25)
    expected = Counter(log.message(i)["status"] for i in range(log.count))
    rows = ast.literal_eval(done.stdout.splitlines()[-1])  # e.g. [{'status': 'SENT', 'n': 4}, ...]
    assert {row["status"]: row["n"] for row in rows} == dict(expected) and sum(expected.values()) == 25
    assert (tmp_path / ".cache").is_dir()
    assert requested == ["/messages"] * 4  # check reads one page; the sync reads the 25 messages, 10 a page
