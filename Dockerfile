# source-courier as an Airbyte connector image: `docker build -t airbyte/source-courier:1.2.1 .`
#
# The base is pinned by its exact tag. Its digest could not be looked up where this file was written (no registry
# access); when building, pin it as python:3.11.17-slim-trixie@sha256:<digest> in both FROM lines
# (`docker buildx imagetools inspect python:3.11.17-slim-trixie` prints the digest).
# integration_tests/test_docker_install.py runs the same install script into a fresh virtualenv, with a build
# context holding only what the COPY lines below name, then runs `spec` and a `read` through the entrypoint.

FROM python:3.11.17-slim-trixie AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /airbyte/integration_code
COPY pyproject.toml README.md ./
COPY source_courier ./source_courier
COPY scripts/install_connector.sh ./scripts/install_connector.sh
RUN python -m venv /opt/source-courier \
    && sh scripts/install_connector.sh /opt/source-courier/bin/python

FROM python:3.11.17-slim-trixie

LABEL io.airbyte.name="airbyte/source-courier" \
      io.airbyte.version="1.2.1"

RUN useradd --create-home --user-group --uid 1000 airbyte

COPY --from=builder /opt/source-courier /opt/source-courier
ENV PATH="/opt/source-courier/bin:${PATH}" \
    AIRBYTE_ENTRYPOINT="source-courier"

WORKDIR /airbyte/integration_code
# The airbyte user, by number: Kubernetes' runAsNonRoot can only verify a numeric user.
USER 1000:1000
ENTRYPOINT ["source-courier"]
