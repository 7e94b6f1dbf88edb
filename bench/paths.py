"""Where the bench scripts find the repository and ``../shared/data`` (the environment variable
``KINTWIN_SHARED_DATA`` overrides the latter). Scripts run from ``bench/`` import it directly."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("KINTWIN_SHARED_DATA", REPO.parent / "shared" / "data"))
