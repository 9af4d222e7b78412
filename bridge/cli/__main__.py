"""``python -m bridge.cli``: the same as the ``talkbridge`` console script."""

import sys

from bridge.cli.app import main

sys.exit(main())
