"""``python -m tbactviz`` runs the command line."""

import sys

from tbactviz.cli import main

sys.exit(main())
