"""`python -m redes` runs the command line."""

import sys

from redes.cli.main import main

sys.exit(main())
