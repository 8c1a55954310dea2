"""Shared set-up: the test folders mirror the package's (``tests/stats/`` tests ``tbactviz/stats/``).

The helper modules that several folders use (``_events.py``, ``_backend_run.py``, ...) live here at the top
of ``tests/`` and are imported by their names (``from _events import read_events``): this directory is put
on ``sys.path`` once, for every test folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
