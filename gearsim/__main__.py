from gearsim.cli import main
import sys
sys.exit(main())
