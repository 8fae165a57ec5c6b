"""``python -m runyard`` is the ``runyard`` command."""

import sys

from runyard.cli import main

sys.exit(main())
