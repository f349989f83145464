"""python -m gearsim: the gearsim command."""

import sys

from gearsim.cli import main

sys.exit(main())
