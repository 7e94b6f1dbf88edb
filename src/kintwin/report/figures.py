"""Figures of the twin's report (matplotlib ``Figure`` objects, no pyplot: no display needed and
no change to the user's matplotlib backend).

Colours: RIGHT side red, LEFT side blue (the clinical gait convention). The twin is drawn solid
(mean, with a +-1 SD band over cycles), the reference dashed. Curves are over the normalised gait
cycle (0 % = foot strike of that side, 100 % = its next foot strike), each side on its own
cycles (the pelvis angles too, once per side's cycles, as in clinical gait plots), when the
reference events give at least one complete cycle; otherwise over time with the events marked
(the pelvis then drawn once, dark grey).

Every ``fig_*`` returns a ``matplotlib.figure.Figure``; :func:`to_png_bytes` renders one.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..models.build import GRAVITY

SIDE_COLOR = {"r": "#d62728", "l": "#1f77b4"}
SIDE_NAME = {"r": "right", "l": "left"}
UNSIDED_COLOR = "0.25"  # pelvis curves over time (not sided)
REF_STYLE = dict(ls="--", lw=1.3)
TWIN_STYLE = dict(ls="-", lw=1.8)
N_POINTS = 101

#: Joint-angle panels: (coordinate without side, title, sign hint). Pelvis angles are not sided.
ANGLE_PANELS = (
    ("pelvis_tilt", "Pelvis tilt", "+ posterior"),
    ("pelvis_list", "Pelvis list (obliquity)", "+ right side down"),
    ("pelvis_rotation", "Pelvis rotation", "+ right side forward"),
    ("hip_flexion", "Hip flexion", "+ flexion"),
    ("hip_adduction", "Hip adduction", "+ adduction"),
    ("hip_rotation", "Hip rotation", "+ internal"),
    ("knee_angle", "Knee flexion", "+ flexion"),
    ("ankle_angle", "Ankle dorsiflexion", "+ dorsiflexion"),
    ("subtalar_angle", "Subtalar inversion", "+ inversion"),
)
#: Joint-moment panels (generalized force along the coordinate; canonical signs).
MOMENT_PANELS = (
    ("hip_flexion", "Hip flexion moment", "+ flexor"),
    ("hip_adduction", "Hip adduction moment", "+ adductor"),
    ("hip_rotation", "Hip rotation moment", "+ internal rotator"),
    ("knee_angle", "Knee flexion moment", "+ flexor"),
    ("ankle_angle", "Ankle dorsiflexion moment", "+ dorsiflexor"),
    ("subtalar_angle", "Subtalar inversion moment", "+ invertor"),
)


# --- gait-cycle normalisation ------------------------------------------------------------------
def cycles(strikes, t_start: float, t_stop: float) -> list[tuple[float, float]]:
    """Complete cycles (consecutive foot strikes of one side) inside [t_start, t_stop]."""
    fs = np.sort(np.asarray(strikes, float))
    fs = fs[(fs >= t_start - 1e-9) & (fs <= t_stop + 1e-9)]
    return list(zip(fs[:-1], fs[1:]))


def normalize(time_s, y, cyc: list[tuple[float, float]], n: int = N_POINTS) -> np.ndarray:
    """(n_cycles, n) y interpolated at 0..100 % of each cycle that ``time_s`` covers (to within
    one sample); a cycle beyond the series (force plates or reference moments over part of the
    trial) is left out, not extrapolated."""
    time_s, y = np.asarray(time_s, float), np.asarray(y, float)
    step = float(np.median(np.diff(time_s))) if len(time_s) > 1 else 0.0
    cyc = [(a, b) for a, b in cyc if a >= time_s[0] - step and b <= time_s[-1] + step]
    pct = np.linspace(0.0, 1.0, n)
    return np.array([np.interp(a + pct * (b - a), time_s, y) for a, b in cyc]).reshape(-1, n)


def _cycles_by_side(events, t0: float, t1: float) -> dict[str, list]:
    if events is None:
        return {}
    return {s: cycles(events.get(s, "foot_strike"), t0, t1) for s in ("r", "l")}


def _use_cycles(cyc: dict) -> bool:
    return any(len(v) for v in cyc.values())


def _band(ax, x, Y, color, label, style):
    if not len(Y):
        return
    m = Y.mean(axis=0)
    ax.plot(x, m, color=color, label=label, **style)
    if len(Y) > 1 and style is TWIN_STYLE:
        sd = Y.std(axis=0, ddof=1)
        ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.18, lw=0)


def _mark_events(ax, events, t0, t1):
    if events is None:
        return
    for s in events.sides:
        for k, ls in (("foot_strike", "-"), ("foot_off", ":")):
            for t in events.get(s, k):
                if t0 <= t <= t1:
                    ax.axvline(t, color=SIDE_COLOR[s], ls=ls, lw=0.8, alpha=0.6)


def _mark_foot_off(ax, events, cyc, side):
    """Vertical line at the mean foot off (% of cycle) of that side."""
    if events is None or not cyc:
        return
    fo = events.get(side, "foot_off")
    pct = [100 * (f - a) / (b - a) for a, b in cyc for f in fo if a < f < b]
    if pct:
        ax.axvline(np.mean(pct), color=SIDE_COLOR[side], ls=":", lw=1.0, alpha=0.8)


def _sided_series(name: str, side: str, get):
    """Values of ``name_side`` (or ``name`` for unsided coordinates) via ``get``; None if absent."""
    for n in (f"{name}_{side}", name):
        try:
            return get(n)
        except KeyError:
            continue
    return None


def _panel_grid(n: int, ncols: int = 3, width: float = 11.0, row_h: float = 2.5):
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(width, row_h * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _title(ax, text: str) -> None:
    """A 9-pt panel title at a fixed height: matplotlib otherwise measures every tick label of the
    panel to lift the title clear of them (0.85 s of a 4.5 s profiled report), and no panel has
    tick labels or an offset text above it."""
    ax.set_title(text, fontsize=9, y=1.0)


def _finish(fig, axes, xlabel):
    shown = [ax for ax in axes if ax.get_visible()]
    for ax in shown:
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        # at most 5 ticks a side: each tick is a label and two lines to build and draw (matplotlib's
        # default put ~9 on each side of these small panels; building them took 1.15 s of a 4.5 s
        # profiled report)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4))
        lo, hi = ax.get_ylim()
        if lo < 0 < hi:  # a zero line only where zero is in range (no squashed curves)
            ax.axhline(0, color="0.6", lw=0.6)
    for ax in list(axes)[-3:]:
        if ax.get_visible():
            ax.set_xlabel(xlabel, fontsize=8)
    uniq = {}
    for ax in shown:
        for hh, ll in zip(*ax.get_legend_handles_labels()):
            uniq.setdefault(ll, hh)
    legend_in = 0.0  # room at the top for the legend, above the panel titles (inches)
    if uniq:
        # right, left, pelvis; reference before twin (columns fill top to bottom)
        group = lambda lab: (next((i for i, g in enumerate(("right", "left", "pelvis"))  # noqa
                                   if lab.startswith(g)), 3), "twin" in lab)
        labels = sorted(uniq, key=group)
        ncol = len(labels) if len(labels) <= 4 else int(np.ceil(len(labels) / 2))
        legend_in = 0.15 + 0.28 * int(np.ceil(len(labels) / ncol))
        fig.legend([uniq[k] for k in labels], labels, loc="lower center", ncol=ncol, fontsize=9,
                   frameon=False, bbox_to_anchor=(0.5, 1.0 - legend_in / fig.get_figheight()))
    _place(fig, top_in=legend_in + 0.3)
    return fig


def _place(fig, left_in=0.75, right_in=0.15, bottom_in=0.5, top_in=0.3, wspace_in=0.75,
           hspace_in=0.55):
    """Fixed margins and gaps in inches (room for 8-pt tick labels, axis labels and 9-pt panel
    titles). Not matplotlib's tight layout, which with ``bbox_inches="tight"`` drew each figure
    three times, twice only to measure its text: a report took 1.24 s with it, 0.68 s without
    (BENCHMARKS.md, "Fixed figure layout, and a batch")."""
    w, h = fig.get_size_inches()
    nrows, ncols = fig.axes[0].get_subplotspec().get_gridspec().get_geometry()
    ax_w = (w - left_in - right_in - wspace_in * (ncols - 1)) / ncols
    ax_h = (h - bottom_in - top_in - hspace_in * (nrows - 1)) / nrows
    fig.subplots_adjust(left=left_in / w, right=1 - right_in / w, bottom=bottom_in / h,
                        top=1 - top_in / h, wspace=wspace_in / ax_w, hspace=hspace_in / ax_h)


def _plot_series(ax, t, y_ref, y_twin, side, cyc, use_cycles, ref_name="reference"):
    c = SIDE_COLOR[side]
    if use_cycles:
        x = np.linspace(0, 100, N_POINTS)
        if not cyc:
            return
        if y_ref is not None:
            _band(ax, x, normalize(t[0], y_ref, cyc), c, f"{SIDE_NAME[side]} {ref_name}", REF_STYLE)
        if y_twin is not None:
            _band(ax, x, normalize(t[1], y_twin, cyc), c, f"{SIDE_NAME[side]} twin", TWIN_STYLE)
    else:
        if y_ref is not None:
            ax.plot(t[0], y_ref, color=c, label=f"{SIDE_NAME[side]} {ref_name}", **REF_STYLE)
        if y_twin is not None:
            ax.plot(t[1], y_twin, color=c, label=f"{SIDE_NAME[side]} twin", **TWIN_STYLE)


# --- figures -----------------------------------------------------------------------------------
def fig_joint_angles(reference, simulated, events=None, panels=ANGLE_PANELS):
    """Joint angles (deg), reference (dashed) vs twin (solid, +-1 SD), both sides.

    ``events``: the reference's gait events; they define the cycles (else: over time).
    """
    t0 = max(reference.time_s[0], simulated.time_s[0])
    t1 = min(reference.time_s[-1], simulated.time_s[-1])
    cyc = _cycles_by_side(events, t0, t1)
    use = _use_cycles(cyc)
    panels = [p for p in panels if any(n.startswith(p[0]) for n in reference.names)]
    fig, axes = _panel_grid(len(panels))
    for ax, (name, title, hint) in zip(axes, panels):
        sided = f"{name}_r" in reference.names or f"{name}_l" in reference.names
        if not sided and not use:  # one pelvis curve over time, not one per side
            if name in reference.names:
                ax.plot(reference.time_s, np.rad2deg(reference[name]), color=UNSIDED_COLOR,
                        label="pelvis reference", **REF_STYLE)
            if name in simulated.names:
                ax.plot(simulated.time_s, np.rad2deg(simulated[name]), color=UNSIDED_COLOR,
                        label="pelvis twin", **TWIN_STYLE)
        for s in ("r", "l") if sided or use else ():
            yr = _sided_series(name, s, lambda n: np.rad2deg(reference[n]))
            yt = _sided_series(name, s, lambda n: np.rad2deg(simulated[n]))
            _plot_series(ax, (reference.time_s, simulated.time_s), yr, yt, s, cyc.get(s, []), use)
            if use:
                _mark_foot_off(ax, events, cyc.get(s, []), s)
        if not use:
            _mark_events(ax, events, reference.time_s[0], reference.time_s[-1])
            if simulated.time_s[-1] < reference.time_s[-1] - 1e-6:
                ax.axvline(simulated.time_s[-1], color="k", lw=2.0, label="twin stopped")
        _title(ax, f"{title}  ({hint})")
        ax.set_ylabel("deg", fontsize=8)
    return _finish(fig, list(axes), "% gait cycle" if use else "time (s)")


def fig_torques(results, events=None, reference_moments=None, panels=MOMENT_PANELS):
    """Joint moments normalised to body mass (N*m/kg), both sides; reference moments dashed."""
    mass = results.mass_kg
    t = results.time_s
    cyc = _cycles_by_side(events, t[0], t[-1])
    use = _use_cycles(cyc)
    panels = [p for p in panels if any(n.startswith(p[0]) for n in results.coordinate_names)]
    fig, axes = _panel_grid(len(panels))
    for ax, (name, title, hint) in zip(axes, panels):
        for s in ("r", "l"):
            yt = _sided_series(name, s, lambda n: results.torque(n) / mass)
            yr, tr = None, t
            if reference_moments is not None:
                tr, mom = reference_moments
                yr = _sided_series(name, s, lambda n: np.asarray(mom[n]) / mass)
            _plot_series(ax, (tr, t), yr, yt, s, cyc.get(s, []), use)
            if use:
                _mark_foot_off(ax, events, cyc.get(s, []), s)
        if not use:
            _mark_events(ax, events, t[0], t[-1])
        _title(ax, f"{title}  ({hint})")
        ax.set_ylabel("N·m/kg", fontsize=8)
    return _finish(fig, list(axes), "% gait cycle" if use else "time (s)")


#: Muscle panels of the activation figure: (muscle base name, title); gait2392 names.
MUSCLE_PANELS = (
    ("glut_max2", "Gluteus maximus"), ("glut_med2", "Gluteus medius"), ("iliacus", "Iliacus"),
    ("rect_fem", "Rectus femoris"), ("vas_lat", "Vastus lateralis"), ("bifemlh", "Biceps femoris (long)"),
    ("med_gas", "Gastrocnemius (medial)"), ("soleus", "Soleus"), ("tib_ant", "Tibialis anterior"),
)
#: A muscle is drawn "on" where its activation is above this fraction of its peak over the trial
#: (and above ``ON_MIN_ACTIVATION``): the usual way to read on/off timing from EMG envelopes.
ON_FRACTION_OF_PEAK = 0.25
ON_MIN_ACTIVATION = 0.02


def fig_activations(results, events=None, panels=MUSCLE_PANELS):
    """Muscle activations (0-1) of a muscle-driven twin, both sides, with on/off bands at the top
    of each panel (on: above ``ON_FRACTION_OF_PEAK`` of the trial's peak)."""
    mus = results.muscles
    t = results.time_s
    cyc = _cycles_by_side(events, t[0], t[-1])
    use = _use_cycles(cyc)
    panels = [p for p in panels if any(n.startswith(p[0] + "_") for n in mus.names)]
    fig, axes = _panel_grid(len(panels))
    for ax, (name, title) in zip(axes, panels):
        for k, s in enumerate(("r", "l")):
            if f"{name}_{s}" not in mus.names:
                continue
            a = mus.activation[:, mus.names.index(f"{name}_{s}")]
            _plot_series(ax, (t, t), None, a, s, cyc.get(s, []), use)
            if use and not cyc.get(s):
                continue
            x, y = ((np.linspace(0, 100, N_POINTS), normalize(t, a, cyc[s]).mean(axis=0)) if use
                    else (t, a))
            on = y >= max(ON_FRACTION_OF_PEAK * a.max(), ON_MIN_ACTIVATION)
            top = 1.0 - 0.07 * k
            ax.fill_between(x, top - 0.055, top, where=on, color=SIDE_COLOR[s], alpha=0.55, lw=0,
                            transform=ax.get_xaxis_transform())
            if use:
                _mark_foot_off(ax, events, cyc.get(s, []), s)
        if not use:
            _mark_events(ax, events, t[0], t[-1])
        ax.set_ylim(0, 1.15)
        _title(ax, title)
        ax.set_ylabel("activation", fontsize=8)
    return _finish(fig, list(axes), "% gait cycle" if use else "time (s)")


#: the GRF figure is drawn over the gait cycle when ``events`` give each foot this many complete
#: cycles (the steps of a long trial overlap unreadably over time); with fewer, over time, where
#: every step and both feet stay visible
MIN_GRF_CYCLES = 2


def fig_grf(results, reference_grf=None, events=None):
    """Ground reaction forces per foot (% body weight), twin solid, force plates dashed; over the
    gait cycle (mean, twin +-1 SD) when the reference's ``events`` give each foot
    ``MIN_GRF_CYCLES`` complete cycles, else over time."""
    bw = results.mass_kg * GRAVITY
    g = results.grf
    t0, t1 = g.time_s[0], g.time_s[-1]
    cyc = _cycles_by_side(events, t0, t1)
    use = bool(cyc) and all(len(cyc[s]) >= MIN_GRF_CYCLES for s in g.force_n)
    fig = Figure(figsize=(11, 3.0))
    axes = fig.subplots(1, 3, squeeze=False)
    axes = list(axes.flat)
    comps = ((1, "Vertical"), (0, "Anterior(+) / posterior"), (2, "Medio-lateral (+ right)"))
    for ax, (k, title) in zip(axes, comps):
        for s in ("r", "l"):
            y_twin = 100 * g.force_n[s][:, k] / bw if s in g.force_n else None
            t_ref, y_ref = g.time_s, None
            if reference_grf is not None and s in reference_grf.force_n:
                keep = slice(None) if use else (reference_grf.time_s >= t0) & (reference_grf.time_s <= t1)
                t_ref = reference_grf.time_s[keep]
                y_ref = 100 * reference_grf.force_n[s][keep, k] / bw
            _plot_series(ax, (t_ref, g.time_s), y_ref, y_twin, s, cyc.get(s, []), use, "force plate")
            if use:
                _mark_foot_off(ax, events, cyc.get(s, []), s)
        _title(ax, title)
        ax.set_ylabel("% body weight", fontsize=8)
    return _finish(fig, list(axes), "% gait cycle" if use else "time (s)")


def fig_residuals(results, warn_pct_bw: float = 5.0, poor_pct_bw: float = 10.0):
    """Pelvis residual force (% BW) and moment (% BW x height) over time, with the limits."""
    bw = results.mass_kg * GRAVITY
    t = results.time_s
    f = 100 * results.residual_force_n / bw
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 2, squeeze=False)
    ax = axes.flat[0]
    for k, (lab, c) in enumerate(zip("XYZ", ("#2ca02c", "#9467bd", "#8c564b"))):
        ax.plot(t, f[:, k], color=c, lw=1.0, label=f"{lab} ({['AP', 'vertical', 'ML'][k]})")
    ax.plot(t, np.linalg.norm(f, axis=1), color="k", lw=1.8, label="|F|")
    ax.axhline(warn_pct_bw, color="#e6a700", ls="--", lw=1)
    ax.axhline(poor_pct_bw, color="#c0392b", ls="--", lw=1)
    _title(ax, "Residual force at the pelvis (help from outside)")
    ax.set_ylabel("% body weight", fontsize=8)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    ax = axes.flat[1]
    if results.height_m:
        m = 100 * results.residual_moment_nm / (bw * results.height_m)
        unit = "% BW × height"
    else:
        m = results.residual_moment_nm / results.mass_kg
        unit = "N·m/kg"
    for k, (lab, c) in enumerate(zip("XYZ", ("#2ca02c", "#9467bd", "#8c564b"))):
        ax.plot(t, m[:, k], color=c, lw=1.0, label=lab)
    ax.plot(t, np.linalg.norm(m, axis=1), color="k", lw=1.8, label="|M|")
    _title(ax, "Residual moment at the pelvis")
    ax.set_ylabel(unit, fontsize=8)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
    for a in axes.flat:
        a.grid(alpha=0.3)
        a.tick_params(labelsize=8)
        a.set_xlabel("time (s)", fontsize=8)
    _place(fig, bottom_in=0.85)
    return fig


def _contact_bars(events, t0, t1):
    """Per side: list of (start, duration) contact intervals from alternating events."""
    out = {}
    for s in events.sides:
        ev = sorted([(t, "fs") for t in events.get(s, "foot_strike")]
                    + [(t, "fo") for t in events.get(s, "foot_off")])
        bars, start = [], None
        if ev and ev[0][1] == "fo":
            start = t0
        for t, k in ev:
            if k == "fs":
                start = t
            elif start is not None:
                bars.append((start, t - start))
                start = None
        if start is not None:
            bars.append((start, t1 - start))
        clipped = [(max(a, t0), min(a + d, t1)) for a, d in bars]
        out[s] = [(a, b - a) for a, b in clipped if b > a]
    return out


def fig_gait_events(rows: list[tuple[str, object]], t0: float, t1: float):
    """Foot-contact diagram: one bar row per (label, GaitEvents) and side; contact = filled."""
    n = sum(len(ev.sides) for _, ev in rows if ev is not None)
    fig = Figure(figsize=(11, 0.45 * max(n, 1) + 1.0))
    ax = fig.subplots()
    y, ticks, labels = 0, [], []
    for s, label, ev in [(s, label, ev) for s in ("r", "l") for label, ev in rows]:
        if ev is None:
            continue
        bars = _contact_bars(ev, t0, t1)
        if s not in bars:
            continue
        ax.broken_barh(bars[s], (y - 0.35, 0.7), facecolors=SIDE_COLOR[s],
                       alpha=0.85 if "twin" in label.lower() else 0.45)
        ticks.append(y)
        labels.append(f"{SIDE_NAME[s]} foot: {label}")
        y -= 1
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(t0, t1)
    ax.set_xlabel("time (s)   (bar = foot on the ground)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    _place(fig, left_in=1.45, top_in=0.1)
    return fig


def to_png_bytes(fig, dpi: int = 100) -> bytes:
    """PNG of ``fig``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
