"""The baseline of `make bench`: the least any client must do to copy a Courier list to JSON lines.

One `requests` session, `json` to parse and to write each record as a line on stdout, the cursor followed
until the page says there is no more. No retries, no schema, no state: the floor a connector is measured
against, on the same emulator in the same run.

    python bench/plain_loop.py BASE_URL API_KEY messages      # paging A, 10 a page
    python bench/plain_loop.py BASE_URL API_KEY tenants       # paging B, limit=100
"""

from __future__ import annotations

import json
import sys

import requests


def main(base_url: str, api_key: str, stream: str) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    out = sys.stdout
    params: dict[str, str | int] = {"limit": 100} if stream == "tenants" else {}
    while True:
        body = session.get(f"{base_url}/{stream}", params=params, timeout=60).json()
        for record in body["items" if stream == "tenants" else "results"]:
            out.write(json.dumps(record) + "\n")
        if stream == "tenants":
            cursor, more = body.get("cursor"), body.get("has_more")
        else:
            cursor, more = body["paging"].get("cursor"), body["paging"].get("more")
        if not more or not cursor:
            break
        params = {**params, "cursor": cursor}


if __name__ == "__main__":
    main(*sys.argv[1:4])
