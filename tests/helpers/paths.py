"""Where things are: the checkout, its fixtures, the installed ebcap."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
PRINT_CORPUS = FIXTURES / "print"
EBCAP = Path(sys.executable).parent / "ebcap"
