"""`python -m redes` runs the command line."""

import sys

from redes.cli import main

sys.exit(main())
