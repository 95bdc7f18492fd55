"""`python -m consumer` is `docfetch-consumer`."""

import sys

from consumer.cli import main

sys.exit(main())
