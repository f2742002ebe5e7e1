"""``python -m training.reliability FILE.csv [options]``: ``manage.py irr`` without Django."""

import sys

from .cli import main

sys.exit(main())
