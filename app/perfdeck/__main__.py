"""`python -m perfdeck`."""

import sys

from perfdeck.cli import main

sys.exit(main())
