"""kintwin: physics-based digital twins of human movement."""

__version__ = "0.1.0"
