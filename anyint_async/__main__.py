"""``python -m anyint_async``: the same as the ``anyint`` command."""

import sys

from .cli import main

sys.exit(main())
