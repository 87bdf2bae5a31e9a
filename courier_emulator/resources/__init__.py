"""One module per resource family; each registers its routes and build hooks when imported (see ``registry``).

Importing this package imports none of them: ``courier_emulator.server`` imports ``messages`` (the log's routes),
and ``courier_emulator.workspace`` calls ``load()``, which imports every module of the package, so a new module
is picked up without being listed anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil


def load() -> None:
    """Import every resource module (in name order), which registers their routes and build hooks."""
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
