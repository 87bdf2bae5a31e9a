#!/bin/sh
# Installs source-courier from the directory above this script into the environment of a Python interpreter:
# the first argument, else $PYTHON, else python3. The Dockerfile runs it to build the image, and
# integration_tests/test_docker_install.py runs it into a fresh virtualenv, so both install the same way.
# pip's own settings (cache, version check) come from the caller's environment; the Dockerfile turns the cache off.
set -eu

python="${1:-${PYTHON:-python3}}"
cd "$(dirname "$0")/.."
"$python" -m pip install .
# Fails the install if the resolved dependencies contradict each other.
"$python" -m pip check
