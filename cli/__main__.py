"""`python -m ftscale.cli ...` is `ftscale ...`."""

import sys

from ftscale.cli.main import main

sys.exit(main())
