"""``python -m HematomaExpansionLib.cli``: the same as the ``hematoma-expansion`` command."""

import sys

from .main import main

sys.exit(main())
