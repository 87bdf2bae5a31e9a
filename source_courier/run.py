"""The `source-courier` command: the CDK's entrypoint for `SourceCourier`, with the glue in presentation.py."""

import gc
import sys

from source_courier.presentation import launch


def run() -> None:
    # The CDK's modules, the parsed manifest and what the command built live until exit: frozen, the collector
    # does not scan them again at interpreter exit (0.2-0.7 s of every command otherwise).
    gc.freeze()
    try:
        launch(sys.argv[1:])
    finally:
        gc.freeze()
