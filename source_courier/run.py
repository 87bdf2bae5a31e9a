"""The `source-courier` command: the CDK's entrypoint for `SourceCourier`, with the glue in presentation.py."""

import sys

from source_courier.presentation import launch


def run() -> None:
    launch(sys.argv[1:])
