"""`python -m stompim ...` is the same as the `stompim` command."""

import sys

from stompim.cli import main

sys.exit(main())
