"""``python -m tbactviz`` runs the command line (the same as the ``tbactviz`` console script)."""

from __future__ import annotations

import sys

from tbactviz.cli import main

if __name__ == "__main__":
    sys.exit(main())
