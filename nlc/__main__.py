"""`python -m nlc` runs the command line."""

import sys

from nlc.cli import main

sys.exit(main())
