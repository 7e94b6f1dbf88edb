"""One summary table across several trials: ``summary.csv`` and a self-contained ``summary.html``.

A row is a flat dict; :func:`summary_row` makes one from a trial's metrics (as in its
``metrics.json``): overall status, the quality figures of the report's traffic lights, and the
main spatiotemporal parameters of the recorded gait (reference) and of the twin.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .html import CSS, STATUS_COLOR, STATUS_TEXT, THRESHOLDS, _e, _light, _num, metric_value
from .html import overall_status, status

#: (column, header, decimals) of the quality part of a row.
QUALITY_COLUMNS = (
    ("completed_fraction", "Completed (%)", 0),
    ("joint_angle_mae_deg", "Joint angle MAE (deg)", 1),
    ("pelvis_position_error_cm", "Pelvis error (cm)", 1),
    ("residual_force_mean_pct_bw", "Residual force (% BW)", 1),
    ("residual_moment_mean_pct_bw_height", "Residual moment (% BW·h)", 2),
    ("gait_event_error_ms", "Event error (ms)", 0),
    ("grf_vertical_rmse_pct_bw", "Vertical GRF RMSE (% BW)", 1),
)
#: (column, spatiotemporal key, side or None, header, decimals)
GAIT_COLUMNS = (
    ("cadence_steps_per_min", "cadence_steps_per_min", None, "Cadence (steps/min)", 1),
    ("speed_m_s", "speed_m_s", None, "Speed (m/s)", 2),
    ("stance_pct_l", "stance_pct", "l", "Stance L (%)", 1),
    ("stance_pct_r", "stance_pct", "r", "Stance R (%)", 1),
    ("step_length_m_l", "step_length_m", "l", "Step length L (m)", 3),
    ("step_length_m_r", "step_length_m", "r", "Step length R (m)", 3),
    ("double_support_pct", "double_support_pct_mean", None, "Double support (%)", 1),
)


def summary_row(trial: str, metrics: dict, extra: dict | None = None) -> dict:
    """Flat row for one trial from its metrics (``metrics.json``'s ``metrics`` part)."""
    row = {"trial": trial, "status": overall_status(metrics)}
    row.update(extra or {})
    for key, _, _ in QUALITY_COLUMNS:
        row[key] = metric_value(metrics, key)
    row["completed"] = metrics.get("completed")
    stt = metrics.get("spatiotemporal") or {}
    for src in ("reference", "twin"):
        s = stt.get(src) or {}
        for col, key, side, _, _ in GAIT_COLUMNS:
            v = s.get(key)
            if side is not None:
                v = (v or {}).get(side)
            row[f"{src}_{col}"] = _num(v)
    return row


def rows_from_output_dirs(dirs) -> list[dict]:
    """Rows from folders written by ``write_results`` (trial name = folder name)."""
    rows = []
    for d in dirs:
        d = Path(d)
        doc = json.loads((d / "metrics.json").read_text())
        rows.append(summary_row(d.name, doc.get("metrics", {}),
                                {"method": doc.get("method", "")}))
    return rows


def _columns(rows: list[dict]) -> list[str]:
    cols = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def write_summary(rows: list[dict], out_dir, name: str = "summary") -> tuple[Path, Path]:
    """Write ``out_dir/summary.csv`` (all columns) and ``out_dir/summary.html``; return both."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cols = _columns(rows)
    csv_path = out / f"{name}.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})

    head = ["Trial", "Overall"] + [h for _, h, _ in QUALITY_COLUMNS]
    head += [f"{h} (recorded)" for _, _, _, h, _ in GAIT_COLUMNS[:2]]
    body = []
    for r in rows:
        cells = [f"<td>{_e(r.get('trial', ''))}</td>", f"<td>{_light(r.get('status', 'na'))}</td>"]
        for key, _, dec in QUALITY_COLUMNS:
            v = _num(r.get(key))
            st = status(key, v) if key in THRESHOLDS else "na"
            txt = "–" if v is None else f"{v:.{dec}f}"
            style = (f" style='background:{STATUS_COLOR[st]}22'" if st != "na" else "")
            cells.append(f"<td class='num'{style} title='{STATUS_TEXT[st]}'>{txt}</td>")
        for col, _, _, _, dec in GAIT_COLUMNS[:2]:
            v = _num(r.get(f"reference_{col}"))
            cells.append(f"<td class='num'>{'–' if v is None else f'{v:.{dec}f}'}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    html_doc = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>KinTwin summary</title><style>{CSS}</style></head><body><main>"
                f"<h1>KinTwin summary: {len(rows)} trial(s)</h1>"
                "<p class='sub'>Cell colours: green good, amber check, red poor (limits as in "
                "each trial's report). All columns are in summary.csv.</p><table><thead><tr>"
                + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
                + "".join(body) + "</tbody></table></main></body></html>")
    html_path = out / f"{name}.html"
    html_path.write_text(html_doc, encoding="utf-8")
    return csv_path, html_path
