"""The logs of a training run: CSV files appended row by row and the learning-curve figure.

``train_log.csv`` (one row per PPO iteration) and ``eval_log.csv`` (one row per deterministic
evaluation) are :class:`CsvLog` files; :func:`plot_learning_curve` draws both
(``learning_curve.png``); :func:`read_csv` reads them back.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class CsvLog:
    """Append-only CSV; the columns are those of the existing file or of the first row."""

    path: Path
    fields: list[str] | None = None
    rows: list[dict] = field(default_factory=list)

    def __post_init__(self):
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                self.fields = next(csv.reader(f), None)

    def append(self, row: dict) -> None:
        self.rows.append(row)
        new_file = self.fields is None
        if new_file:
            self.fields = list(row)
        with open(self.path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new_file:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in self.fields})


def read_csv(path: str | Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
                for r in csv.DictReader(f)]


def plot_learning_curve(train_csv: str | Path, out_png: str | Path,
                        eval_csv: str | Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_csv(train_csv)
    ev = read_csv(eval_csv) if eval_csv and Path(eval_csv).exists() else []
    x = np.array([r["env_steps"] for r in rows]) / 1e6
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    panels = [("episode_return", "episode return (train, stochastic)", "return"),
              ("tracking_error", "joint angle MAE (train, deg)", "joint_mae_deg"),
              ("episode_length", "episode length (steps)", "length"),
              ("residual_force_pct_bw", "residual force (% BW)", "residual_pct_bw")]
    for ax, (key, title, ekey) in zip(axes.flat, panels):
        y = np.array([r.get(key, math.nan) for r in rows])
        ax.plot(x, y, lw=1, label="train")
        if ev:
            ax.plot(np.array([r["env_steps"] for r in ev]) / 1e6, [r.get(ekey, math.nan) for r in ev],
                    "o-", ms=3, lw=1, label="eval (deterministic)")
            ax.legend(fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps (M)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png


__all__ = ["CsvLog", "plot_learning_curve", "read_csv"]
