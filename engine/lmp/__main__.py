import sys

from engine.lmp.cli import main

sys.exit(main())
