"""OpenSim ``.mot``/``.sto`` tables (OpenSim 3.3 ``Storage`` and 4.x ``STOFileAdapter`` layouts).

A file is a header (lines up to ``endheader``), one row of column labels starting with ``time``
and numeric rows, tab or whitespace separated. Two header styles exist:

* OpenSim 4 / ``version=1``: a name line, then ``key=value`` lines (``version``, ``nRows``,
  ``nColumns`` counting the time column, ``inDegrees=yes|no``, ``DataType``, ``DataRate``, ...)
  and sometimes free text.
* OpenSim 3.3 / legacy: ``name <name>``, ``datacolumns <n>``, ``datarows <n>``, ``range <t0> <t1>``.

Values are returned as stored: units follow the file (``in_degrees`` says whether rotational
columns are degrees; GRF files wrongly say ``inDegrees=yes``). Time is in seconds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

_LEGACY_KEYS = ("name", "datacolumns", "datarows", "range")
_YES = ("yes", "true")
_NO = ("no", "false")


@dataclass
class Table:
    """A numeric table with a time column.

    ``labels`` excludes ``time``; ``time_s`` is (T,) seconds; ``data`` is (T, n) in file units.
    ``in_degrees`` comes from the header's ``inDegrees`` (None when absent). ``header`` holds every
    ``key=value`` (and legacy ``key value``) header entry as strings; the name line is ``name``.
    """

    labels: list[str]
    time_s: np.ndarray
    data: np.ndarray
    in_degrees: bool | None = None
    header: dict[str, str] = field(default_factory=dict)
    path: Path | None = None

    def column(self, label: str) -> np.ndarray:
        """The (T,) column called ``label`` (KeyError naming the file if absent)."""
        try:
            return self.data[:, self.labels.index(label)]
        except ValueError:
            raise KeyError(f"{self.path}: no column {label!r}") from None

    @property
    def rate_hz(self) -> float:
        """Mean sampling rate from the time column (Hz)."""
        return float((len(self.time_s) - 1) / (self.time_s[-1] - self.time_s[0]))


def _split_labels(line: str, n_values: int | None = None) -> list[str]:
    """Split the label row on tabs when present, else on whitespace.

    Labels may be padded with spaces; repeated tabs (empty cells) are dropped, as the data rows
    are split on any whitespace. When the tab split does not give ``n_values`` labels (the width
    of the first data row) but a whitespace split does, the row mixes spaces and tabs: use that.
    """
    words = line.split()
    if "\t" not in line:
        return words
    cells = [c.strip() for c in line.split("\t") if c.strip()]
    return words if len(cells) != n_values and len(words) == n_values else cells


def _parse_header(lines: list[str], path: Path) -> tuple[dict[str, str], int]:
    """Header entries and the index of the line after ``endheader``."""
    header: dict[str, str] = {}
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.lower() == "endheader":
            return header, i + 1
        if not line:
            continue
        if "=" in line:
            key, _, value = line.partition("=")
            if key.strip() and " " not in key.strip():
                header[key.strip()] = value.strip()
                continue
        words = line.split(None, 1)
        if words[0].lower() in _LEGACY_KEYS and len(words) == 2:
            header[words[0].lower()] = words[1].strip()
        elif i == 0:
            header["name"] = line
        # other lines are free text (e.g. "Units are S.I. units ...")
    raise InputError(f"{path}: no 'endheader' line: not an OpenSim .mot/.sto file")


def _parse_in_degrees(header: dict[str, str], path: Path) -> bool | None:
    for key, value in header.items():
        if key.lower() == "indegrees":
            v = value.strip().lower()
            if v in _YES:
                return True
            if v in _NO:
                return False
            raise InputError(f"{path}: unknown units in header 'inDegrees={value}' "
                             "(expected yes or no)")
    return None


def _header_int(header: dict[str, str], key: str, path: Path) -> int | None:
    for k, v in header.items():
        if k.lower() == key.lower():
            try:
                return int(float(v))
            except ValueError:
                raise InputError(f"{path}: header '{k}={v}' is not a number") from None
    return None


def read_table(path: str | Path, allow_nonfinite: bool = False) -> Table:
    """Read an OpenSim ``.mot``/``.sto`` file.

    Raises ``InputError`` (a ``ValueError``) naming the file and the problem for: a missing
    ``endheader``, a missing ``time`` column, duplicate labels, unknown ``inDegrees`` values, rows
    whose number of values differs from the label row's (a ragged last row means a truncated
    file), fewer or more rows than ``nRows`` says, non-numeric cells, NaN/inf values (unless
    ``allow_nonfinite``) and time that is not strictly increasing. Unknown header keys and free
    text are kept or skipped. As OpenSim does, a stale column count in the header (``nColumns`` or
    legacy ``datacolumns``) when the label row and every data row agree, and a stale legacy
    ``datarows`` count, only warn (OpenSim's own example files have them).
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header, start = _parse_header(lines, path)
    in_degrees = _parse_in_degrees(header, path)
    body = [ln for ln in lines[start:] if ln.strip()]
    if not body:
        raise InputError(f"{path}: no column labels after 'endheader'")
    rows = [ln.split() for ln in body[1:]]
    labels = _split_labels(body[0], len(rows[0]) if rows else None)
    if not labels or labels[0].lower() != "time":
        raise InputError(f"{path}: missing time column (first label is "
                         f"{labels[0] if labels else None!r}, expected 'time')")
    seen, dup = set(), []
    for lab in labels:
        if lab in seen and lab not in dup:
            dup.append(lab)
        seen.add(lab)
    if dup:
        raise InputError(f"{path}: duplicate column label(s) {dup}")

    ncol = len(labels)
    n_declared = _header_int(header, "nColumns", path)
    if n_declared is None:
        n_declared = _header_int(header, "datacolumns", path)
    declared = (f"; the header says {n_declared} columns"
                if n_declared is not None and n_declared != ncol else "")
    for r, cells in enumerate(rows):
        if len(cells) != ncol:
            where = "last row" if r == len(rows) - 1 else f"data row {r + 1}"
            hint = " (ragged last row: the file looks truncated)" if r == len(rows) - 1 else ""
            raise InputError(f"{path}: {where} has {len(cells)} values but the label row has "
                             f"{ncol} labels{declared}{hint}")
    if declared and rows:
        # OpenSim reads such files (its own example data has them): the label row and the data
        # rows agree, only the header's count is stale
        warnings.warn(f"{path}: header says {n_declared} columns but the label row and the data "
                      f"rows have {ncol}; using the {ncol} columns present", stacklevel=2)
    n_rows = _header_int(header, "nRows", path)
    if n_rows is not None and n_rows != len(rows):
        what = "truncated file" if len(rows) < n_rows else "extra rows"
        raise InputError(f"{path}: {what}: header says nRows={n_rows} but found {len(rows)} "
                         "data rows")
    legacy_rows = _header_int(header, "datarows", path)
    if n_rows is None and legacy_rows is not None and legacy_rows != len(rows):
        warnings.warn(f"{path}: header says datarows {legacy_rows} but found {len(rows)} rows; "
                      "using the rows present", stacklevel=2)
    if not rows:
        raise InputError(f"{path}: no data rows")

    try:
        values = np.array(rows, dtype=float)
    except ValueError:
        for r, cells in enumerate(rows):
            for c, cell in enumerate(cells):
                try:
                    float(cell)
                except ValueError:
                    raise InputError(f"{path}: data row {r + 1}, column {labels[c]!r}: "
                                     f"cannot read {cell!r} as a number") from None
        raise
    bad = ~np.isfinite(values)
    if bad.any() and not allow_nonfinite:
        bad_rows = np.flatnonzero(bad.any(axis=1))
        bad_cols = [labels[c] for c in np.flatnonzero(bad.any(axis=0))]
        raise InputError(f"{path}: NaN/inf values in {len(bad_rows)} row(s) (data rows "
                         f"{(bad_rows[:10] + 1).tolist()}{'...' if len(bad_rows) > 10 else ''}) "
                         f"in column(s) {bad_cols}")
    time_s = values[:, 0]
    if not np.all(np.isfinite(time_s)):
        raise InputError(f"{path}: time column has NaN/inf values")
    step = np.diff(time_s)
    repeated = (step == 0) & np.all(values[1:] == values[:-1], axis=1)  # a row written twice
    if np.any((step <= 0) & ~repeated):
        r = int(np.flatnonzero((step <= 0) & ~repeated)[0])
        raise InputError(f"{path}: time is not strictly increasing: data row {r + 2} has "
                         f"t = {time_s[r + 1]:g} s after t = {time_s[r]:g} s")
    if repeated.any():  # an exporter's artefact (often the last row): harmless, left out
        warnings.warn(f"{path}: {int(repeated.sum())} row(s) repeated exactly (same time, same "
                      f"values) left out, first at t = {time_s[np.argmax(repeated)]:g} s", stacklevel=2)
        values = values[np.concatenate([[True], ~repeated])]
        time_s = values[:, 0]
    return Table(labels=labels[1:], time_s=time_s, data=values[:, 1:], in_degrees=in_degrees,
                 header=header, path=path)


def _as_arrays(labels, time_s, data, path) -> tuple[list[str], np.ndarray, np.ndarray]:
    labels = [str(lab) for lab in labels]
    time_s = np.asarray(time_s, dtype=float).reshape(-1)
    data = np.asarray(data, dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    if data.shape != (len(time_s), len(labels)):
        raise ValueError(f"{path}: data shape {data.shape} does not match "
                         f"({len(time_s)} times, {len(labels)} labels)")
    if len(set(labels)) != len(labels) or "time" in labels:
        raise ValueError(f"{path}: labels must be unique and exclude 'time'")
    return labels, time_s, data


def write_table(path: str | Path, labels, time_s, data, name: str | None = None,
                in_degrees: bool = False, allow_nonfinite: bool = False) -> Path:
    """Write an OpenSim 4 ``.mot``/``.sto`` file (``version=1`` header, tab separated, %.10g).

    ``labels`` excludes time; ``data`` is (T, n). ``name`` defaults to the file name.
    ``in_degrees`` only sets the header flag: convert the values yourself.
    """
    path = Path(path)
    labels, time_s, data = _as_arrays(labels, time_s, data, path)
    if not allow_nonfinite and not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: refusing to write NaN/inf values")
    lines = [name or path.name, "version=1", f"nRows={len(time_s)}",
             f"nColumns={len(labels) + 1}", f"inDegrees={'yes' if in_degrees else 'no'}",
             "endheader", "\t".join(["time", *labels])]
    table = np.column_stack([time_s, data])
    lines += ["\t".join(f"{v:.10g}" for v in row) for row in table]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: str | Path, labels, time_s, data) -> Path:
    """Write a comma-separated table with a ``time`` column first (%.10g)."""
    path = Path(path)
    labels, time_s, data = _as_arrays(labels, time_s, data, path)
    np.savetxt(path, np.column_stack([time_s, data]), delimiter=",", fmt="%.10g",
               header=",".join(["time", *labels]), comments="")
    return path


def write_npz(path: str | Path, **arrays) -> Path:
    """Save named arrays to a compressed ``.npz`` (``np.savez_compressed``)."""
    path = Path(path)
    np.savez_compressed(path, **arrays)
    return path
