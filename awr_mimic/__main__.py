import sys

from awr_mimic.cli import main

sys.exit(main())
