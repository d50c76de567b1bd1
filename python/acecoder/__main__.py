"""``python -m acecoder`` is the ``acecoder`` command."""

import sys

from acecoder.cli import main

sys.exit(main())
