#!/usr/bin/env python3
"""The workflow's `python scripts/classify-severity.py`: the same as `warroom classify`.

Run from the repository root; it works whether or not warroom is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from warroom.cli import app

if __name__ == "__main__":
    app(["classify", *sys.argv[1:]], prog_name="classify-severity.py")
