"""python -m veil: the same as the `veil` command."""

import sys

from .cli import main

sys.exit(main())
