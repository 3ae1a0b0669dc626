"""``python -m cxpulse``: the ``cxpulse`` command."""

import sys

from cxpulse.commands.cli import main

sys.exit(main())
