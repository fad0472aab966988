import sys

from ecocube.cli import main

sys.exit(main())
