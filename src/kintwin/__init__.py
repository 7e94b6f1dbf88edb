"""kintwin: physics-based digital twins of human movement."""

import os
import sys

__version__ = "0.1.0"

# Offscreen rendering (the report's video) on a headless Linux machine: MuJoCo's EGL back end,
# unless the user chose one. It must be set before ``mujoco`` is imported.
if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
    os.environ.setdefault("MUJOCO_GL", "egl")
