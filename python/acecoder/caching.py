"""Where acecoder keeps what it can recompute but should not: ``$ACECODER_CACHE_DIR``, else ``~/.cache/acecoder``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("ACECODER_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "acecoder")
    return Path(root)
