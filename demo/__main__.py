"""``python -m demo <scenario>``: the same as ``lowlat demo <scenario>``.

Run from the repository root. If the interpreter lacks lowlat's dependencies but the
project's ``.venv`` exists, the demo re-runs itself under ``.venv/bin/python``.
"""

import os
import sys
from pathlib import Path

try:
    from lowlat.cli.main import main
except ModuleNotFoundError as missing:
    venv_python = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
        os.execv(venv_python, [str(venv_python), "-m", "demo", *sys.argv[1:]])
    sys.exit(f"python -m demo: {missing.name} is not installed; run `make install` first")

raise SystemExit(main(["demo", *sys.argv[1:]]))
