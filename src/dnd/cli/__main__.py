import sys

from dnd.cli.main import main

sys.exit(main())
