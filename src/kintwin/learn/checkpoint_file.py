"""The checkpoint file in numpy, without JAX: its JSON header and its arrays.

``learn/checkpoint`` writes the file and rebuilds a training state from it; ``learn/policy``
reads a policy's arrays from it, so that a twin runs a policy without importing JAX (the import
alone costs a worker process 1.2-2 s). The layout is described in ``learn/checkpoint``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

FORMAT = "kintwin-ppo-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file exists but is not a valid, compatible checkpoint."""


def read_checkpoint_file(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a checkpoint file: the header's JSON and every array by its name
    (``leaf/00000``..., ``extra/<name>``). A missing file raises ``FileNotFoundError``; a file
    that is not a readable checkpoint of this version raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = {k: data[k] for k in data.files}
        header = json.loads(str(files.pop("__header__")))
    except Exception as e:  # zip/CRC/JSON/missing-key errors all mean "not a checkpoint"
        raise CheckpointError(f"{path} is not a readable checkpoint (corrupt, truncated or "
                              f"another format): {type(e).__name__}: {e}") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a {FORMAT} file")
    if header.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {header.get('version')}")
    missing = [i for i in range(header["num_leaves"]) if f"leaf/{i:05d}" not in files]
    if missing:
        raise CheckpointError(f"{path}: {header['num_leaves'] - len(missing)} saved leaves, "
                              f"the header says {header['num_leaves']}")
    return header, files


def leaf(files: dict[str, np.ndarray], i: int) -> np.ndarray:
    """The ``i``-th array leaf of the saved training state (negative: from the end)."""
    n = sum(k.startswith("leaf/") for k in files)
    return files[f"leaf/{i % n:05d}"]


__all__ = ["CheckpointError", "FORMAT", "VERSION", "leaf", "read_checkpoint_file"]
