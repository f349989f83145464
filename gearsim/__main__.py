"""python -m gearsim: the gearsim command."""

import sys

from gearsim.cli.main import main

sys.exit(main())
