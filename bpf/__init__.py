"""The kernel side: C sources that BCC compiles at run time (see ebcap.c)."""

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
