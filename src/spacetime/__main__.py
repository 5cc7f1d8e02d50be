"""``python -m spacetime``: the ``spacetime`` command."""

import sys

from spacetime.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
