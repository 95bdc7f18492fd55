import sys

from originfarm.cli import main

sys.exit(main())
