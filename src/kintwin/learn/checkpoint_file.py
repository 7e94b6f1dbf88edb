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


def read_checkpoint_file(path: str | os.PathLike) -> tuple[dict, list[np.ndarray], dict[str, np.ndarray]]:
    """(header, leaves, extra) of a checkpoint file: the header's JSON, the saved training state's
    array leaves in order (``leaf/00000``...) and the extra arrays by name (``extra/<name>``). A
    missing file raises ``FileNotFoundError``; a file that is not a readable checkpoint of this
    version raises :class:`CheckpointError`."""
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
    leaves = [files.get(f"leaf/{i:05d}") for i in range(header["num_leaves"])]
    if any(x is None for x in leaves):
        raise CheckpointError(f"{path}: {sum(x is not None for x in leaves)} saved leaves, "
                              f"the header says {header['num_leaves']}")
    extra = {k[len("extra/"):]: v for k, v in files.items() if k.startswith("extra/")}
    return header, leaves, extra


__all__ = ["CheckpointError", "FORMAT", "VERSION", "read_checkpoint_file"]
