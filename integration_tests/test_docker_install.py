"""The Docker image, without a Docker engine: the Dockerfile's promises are read from the file, and its install
step runs for real.

`scripts/install_connector.sh` is the image's only install step. Here it runs into a fresh virtualenv, inside a
build context holding exactly the files the Dockerfile's COPY lines take (after `.dockerignore`), laid out as the
image lays them out. Then `spec` and a `read` run through the Dockerfile's ENTRYPOINT command in that virtualenv,
which is the command the image's PATH resolves it to. The tests of that install (a minute or more) are in the slow
tier; the Dockerfile's own checks are fast.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from integration_tests.cli_runner import (
    API_KEY,
    CATALOG,
    OUTPUTS,
    cli,
    config,
    error_traces,
    final_state,
    of_type,
    record_ids,
)

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCRIPT = "scripts/install_connector.sh"
# What the install needs, and nothing else: there is no LICENSE file (pyproject declares `license = "MIT"`).
CONTEXT_SOURCES = ["pyproject.toml", "README.md", "source_courier", SCRIPT]

Instruction = tuple[str, str]


def instructions(text: str) -> list[Instruction]:
    """(KEYWORD, arguments) for each instruction, with continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def stages(text: str) -> list[list[Instruction]]:
    """The build stages, each starting with its FROM."""
    found: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            found.append([])
        assert found, f"{instruction} comes before any FROM"
        found[-1].append(instruction)
    return found


def arguments(stage: list[Instruction], keyword: str) -> list[str]:
    return [args for kw, args in stage if kw == keyword]


def pairs(stage: list[Instruction], keyword: str) -> dict[str, str]:
    """The KEY=value pairs of a stage's ENV or LABEL lines, the later line winning."""
    found: dict[str, str] = {}
    for args in arguments(stage, keyword):
        for word in shlex.split(args):
            key, equals, value = word.partition("=")
            assert equals, f"{keyword} {args}: only the KEY=value form is read here"
            found[key] = value
    return found


def copies(stage: list[Instruction]) -> list[tuple[list[str], str, dict[str, str]]]:
    """(sources, destination, flags) of each COPY."""
    found = []
    for args in arguments(stage, "COPY"):
        words = shlex.split(args)
        flags = dict(word[2:].partition("=")[::2] for word in words if word.startswith("--"))
        *sources, destination = [word for word in words if not word.startswith("--")]
        found.append((sources, destination, flags))
    return found


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(takes back in, regex) for each pattern, in the subset of Docker's rules `.dockerignore` uses: `*` and `?`
    stop at `/`, `**/` is any number of directories, and a leading `!` takes matching files back in."""
    found = []
    for line in (line.strip() for line in text.splitlines()):
        if line and not line.startswith("#"):
            regex = re.sub(
                r"\*\*/|\*\*|\*|\?|[^*?]+",
                lambda m: {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(m[0]) or re.escape(m[0]),
                line.removeprefix("!").strip("/"),
            )
            found.append((line.startswith("!"), re.compile(regex)))
    return found


DOCKERIGNORE_PATTERNS = dockerignore_patterns(DOCKERIGNORE.read_text())


def dockerignore_excludes(relative: str) -> bool:
    """Whether `.dockerignore` keeps a file out of the build context: a pattern that matches the file or any of
    its parent directories decides for it, and the last such pattern wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for takes_back, pattern in DOCKERIGNORE_PATTERNS:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not takes_back
    return excluded


DOCKER_STAGES = stages(DOCKERFILE.read_text())
BUILDER, FINAL = DOCKER_STAGES[0], DOCKER_STAGES[-1]
ENTRYPOINT: list[str] = json.loads(arguments(FINAL, "ENTRYPOINT")[-1])


def context_copies() -> list[tuple[list[str], str, dict[str, str]]]:
    """The COPY lines that read the build context (not another stage)."""
    return [copy for stage in DOCKER_STAGES for copy in copies(stage) if "from" not in copy[2]]


def test_the_dockerfile_copies_only_what_the_install_needs_to_the_same_places_as_in_the_repo():
    sources = [source for sources, _, _ in context_copies() for source in sources]

    assert sorted(sources) == sorted(CONTEXT_SOURCES)
    # One absolute WORKDIR: the relative COPY destinations and the install's RUN share it.
    (workdir,) = arguments(BUILDER, "WORKDIR")
    assert workdir.startswith("/")
    for copy_sources, destination, _ in context_copies():
        for source in copy_sources:
            # A directory's contents land in the destination; a file lands in it when it ends with `/`.
            lands_at = destination
            if not (ROOT / source).is_dir() and (destination.endswith("/") or len(copy_sources) > 1):
                lands_at = posixpath.join(destination, posixpath.basename(source))
            assert posixpath.normpath(lands_at) == source, f"COPY {source} lands at {lands_at}, not at ./{source}"


def test_dockerignore_keeps_every_copied_source_and_leaves_out_the_rest():
    for kept in (
        "pyproject.toml",
        "README.md",
        "source_courier/manifest.yaml",
        "source_courier/schemas/shared",
        SCRIPT,
    ):
        assert not dockerignore_excludes(kept), kept
    for left_out in (
        ".venv/bin/python",
        ".git/HEAD",
        "secrets/config.json",
        "source_courier.egg-info/PKG-INFO",
        "source_courier/__pycache__/run.cpython-311.pyc",
        "integration_tests/test_cli.py",
        "scripts/other.sh",
        "Makefile",
    ):
        assert dockerignore_excludes(left_out), left_out


def test_the_image_runs_the_cli_from_the_installed_virtualenv_as_a_non_root_user_on_a_pinned_base():
    images = {args.split()[0] for args in (stage[0][1] for stage in DOCKER_STAGES)}
    (image,) = images
    # An exact tag, and the digest once someone who can look it up pins it.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", image), f"{image} is not exact"

    env = pairs(FINAL, "ENV")
    assert ENTRYPOINT == ["source-courier"]  # [project.scripts] in pyproject.toml
    assert shlex.split(env["AIRBYTE_ENTRYPOINT"]) == ENTRYPOINT
    # The final stage takes the virtualenv the builder installed into, and finds the entrypoint there first.
    ((copied, destination, flags),) = copies(FINAL)
    assert flags == {"from": "builder"} and copied == [destination]
    assert env["PATH"].split(":")[0] == f"{destination}/bin"
    assert [f"sh {SCRIPT} {destination}/bin/python" in run for run in arguments(BUILDER, "RUN")] == [True]

    user = arguments(FINAL, "USER")[-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user} is not a numeric non-root user"
    assert [
        re.search(rf"\buseradd\b.*--uid {uid}\b.* airbyte$", run) is not None for run in arguments(FINAL, "RUN")
    ] == [True]

    labels = pairs(FINAL, "LABEL")
    assert labels["io.airbyte.name"] == "airbyte/source-courier"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the connector installed by the image's install script, from a build context."""
    root = tmp_path_factory.mktemp("docker_install")
    context = root / "context"
    for source in (source for sources, _, _ in context_copies() for source in sources):
        path = ROOT / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        kept = [file for file in files if not dockerignore_excludes(file.relative_to(ROOT).as_posix())]
        assert kept, f"COPY {source}: .dockerignore leaves nothing of it in the build context"
        for file in kept:
            target = context / file.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()

    # As the Dockerfile's RUN does it: from the context's root, the script by its relative path.
    done = subprocess.run(
        ["sh", SCRIPT, str(venv / "bin" / "python")], cwd=context, capture_output=True, text=True, timeout=900
    )
    OUTPUTS.extend([done.stdout, done.stderr])
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def entrypoint_command(venv: Path) -> list[str]:
    return [str(venv / "bin" / ENTRYPOINT[0]), *ENTRYPOINT[1:]]


@pytest.mark.slow  # a fresh virtualenv install
def test_the_install_puts_the_package_and_its_manifest_into_the_virtualenv_at_the_labelled_version(installed):
    probe = "; ".join(
        [
            "import importlib.metadata, source_courier",
            "print(source_courier.__file__)",
            "print(importlib.metadata.version('source-courier'))",
        ]
    )
    # -I: neither the working directory nor PYTHONPATH can put the checkout on the path.
    done = subprocess.run(
        [str(installed / "bin" / "python"), "-I", "-c", probe], capture_output=True, text=True, timeout=120
    )
    OUTPUTS.extend([done.stdout, done.stderr])

    assert done.returncode == 0, done.stderr
    module_file, version = done.stdout.split()
    package = Path(module_file).parent
    assert package.is_relative_to(installed)  # a copy, not the checkout (nor an editable link to it)
    assert (package / "manifest.yaml").is_file() and (package / "schemas" / "messages.json").is_file()
    assert pairs(FINAL, "LABEL")["io.airbyte.version"] == version


@pytest.mark.slow  # a fresh virtualenv install
def test_the_installed_entrypoint_prints_the_packaged_spec(tmp_path, installed):
    code, messages = cli(tmp_path, "spec", executable=entrypoint_command(installed))
    _, packaged = cli(tmp_path, "spec")

    assert code == 0
    (spec,) = of_type(messages, "SPEC")
    assert spec["connectionSpecification"]["required"] == ["api_key"]
    assert [spec] == of_type(packaged, "SPEC")


@pytest.mark.slow  # a fresh virtualenv install
def test_the_installed_entrypoint_reads_every_message_once_with_the_newest_enqueued_as_state(
    tmp_path, installed, courier_emulator_factory
):
    courier = courier_emulator_factory(api_key=API_KEY, messages=25)

    code, messages = cli(
        tmp_path,
        "read",
        config(courier.base_url),
        catalog=CATALOG.read_text(),
        executable=entrypoint_command(installed),
    )

    assert code == 0
    assert error_traces(messages) == []
    assert record_ids(messages) == list(courier.log.ids())
    assert len(record_ids(messages)) == 25
    assert final_state(messages) == {"enqueued": str(courier.log.enqueued(0))}
    assert [(r["path"], r["authorized"]) for r in courier.requests()] == [("/messages", True)] * 3
