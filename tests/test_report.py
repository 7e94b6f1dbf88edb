"""Tracking metrics, their recomputation from files, and the HTML report / summary.

The "twin" here is FAKE (test data only, never a result): the generated sample walk plus smooth
noise as the simulated motion, synthetic ground reactions (the total external force the sample
needs, shared between the feet over the nominal contact phases, COP moving heel to toe), and
joint moments from ``kintwin.dynamics`` inverse dynamics of the noisy motion with those forces.

Run ``python tests/test_report.py OUT_DIR`` to write the fake reports for a visual check.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from kintwin.analysis import tracking_metrics as tm
from kintwin.analysis.results import read_results, write_results
from kintwin.models.anthropometry import default_skeleton
from kintwin.models.build import GRAVITY, build_model
from kintwin.motion.grf import GroundReactions
from kintwin.motion.motion import Motion
from kintwin.motion.sample import sample_walk

CYCLE_S, TOE_OFF = 1.1, 0.62


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _right_share(phase):
    """Share of the total ground force on the right foot over the nominal gait phase."""
    p = phase % 1.0
    ds = TOE_OFF - 0.5  # double support duration (phase)
    w = np.zeros_like(p)
    w[(p >= ds) & (p < 0.5)] = 1.0
    m = p < ds
    w[m] = _smoothstep(p[m] / ds)
    m = (p >= 0.5) & (p < TOE_OFF)
    w[m] = 1.0 - _smoothstep((p[m] - 0.5) / ds)
    return w


def synthetic_grf(motion: Motion, model) -> GroundReactions:
    """FAKE ground reactions for the sample walk: the total external wrench that ``motion``
    needs (inverse dynamics without loads) shared between the feet over the nominal contact
    phases; each foot's COP solves its share of the moment (so the pelvis residual is small)."""
    from kintwin.dynamics.inverse_dynamics import cop_on_plane, inverse_dynamics

    t = motion.time_s
    zero = GroundReactions(time_s=t, force_n={s: np.zeros((len(t), 3)) for s in "rl"},
                           cop_m={s: np.zeros((len(t), 3)) for s in "rl"},
                           torque_nm={s: np.zeros((len(t), 3)) for s in "rl"})
    need = inverse_dynamics(motion, model, zero)  # residual = total external wrench needed
    p = need.kinematics  # filtered motion: pelvis origin in OpenSim ground
    origin = np.column_stack([p["pelvis_tx"], p["pelvis_ty"], p["pelvis_tz"]])
    f_tot = need.residual_force_n
    m_tot = need.residual_moment_nm + np.cross(origin, f_tot)  # about the ground origin
    w = {"r": _right_share(t / CYCLE_S)}
    w["l"] = 1.0 - w["r"]
    grf = GroundReactions(time_s=t)
    for s in "rl":
        f, m = f_tot * w[s][:, None], m_tot * w[s][:, None]
        cop, tq = cop_on_plane(f, m, 0.0, min_vertical_n=10.0)
        off = np.abs(f[:, 1]) <= 10.0
        f[off], cop[off], tq[off] = 0.0, 0.0, 0.0
        grf.force_n[s], grf.cop_m[s], grf.torque_nm[s] = f, cop, tq
    return grf


def _noise(rng, shape, rate_hz, amp, cutoff_hz=3.0):
    from kintwin.motion.filtering import lowpass

    x = lowpass(rng.standard_normal(shape), rate_hz, cutoff_hz)
    return amp * x / x.std()


def fake_twin(duration_s: float = 3.3, angle_noise_deg: float = 1.0, pelvis_noise_m: float = 0.005,
              stop_at_s: float | None = None, extra_residual_pct_bw: float = 0.0, seed: int = 0):
    """(reference Motion, FAKE twin Results, model). ``stop_at_s`` mimics an early termination;
    ``extra_residual_pct_bw`` adds a vertical residual force of that size (to provoke warnings)."""
    from kintwin.dynamics.inverse_dynamics import inverse_dynamics

    ref = sample_walk(duration_s=duration_s)
    model = build_model(default_skeleton(ref.subject.height_m, ref.subject.mass_kg))
    rng = np.random.default_rng(seed)
    vals = ref.values.copy()
    for j, n in enumerate(ref.names):
        if n in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
            vals[:, j] += _noise(rng, len(vals), ref.rate_hz, pelvis_noise_m)
        else:
            vals[:, j] += np.deg2rad(_noise(rng, len(vals), ref.rate_hz, angle_noise_deg))
    sim = replace(ref, values=vals, source_file="FAKE twin (test)")
    if stop_at_s is not None:
        sim = sim.slice_time(0.0, stop_at_s)
    grf = synthetic_grf(sim, model)
    res = inverse_dynamics(sim, model, grf, mass_kg=ref.subject.mass_kg,
                           height_m=ref.subject.height_m)
    res.method = "FAKE twin for tests (sample walk + noise, synthetic GRF)"
    bw = ref.subject.mass_kg * GRAVITY
    res.residual_force_n[:, 1] += extra_residual_pct_bw / 100 * bw * (
        1 + 0.3 * np.sin(2 * np.pi * res.time_s / 0.55))
    return ref, res, model


@pytest.fixture(scope="module")
def good_twin():
    ref, res, model = fake_twin()
    return ref, res, model, tm.compute_all(res, ref, model=model)


# --- tracking metrics ---------------------------------------------------------------------------
def test_tracking_metrics_exact_values():
    ref = sample_walk(duration_s=1.0)
    vals = ref.values.copy()
    knee = ref.names.index("knee_angle_r")
    vals[:, knee] += np.deg2rad(3.0)
    vals[:, ref.names.index("pelvis_ty")] += 0.02
    sim = replace(ref, values=vals)
    m = tm.tracking_metrics(ref, sim)
    joints = tm.joint_coordinates(ref, sim)
    assert m["completed"] is True and m["completed_fraction"] == 1.0
    assert m["joint_angle_mae_deg_by_joint"]["knee_angle_r"] == pytest.approx(3.0)
    assert m["joint_angle_mae_deg"] == pytest.approx(3.0 / len(joints))
    assert m["joint_angle_rmse_deg"] == pytest.approx(np.sqrt(9.0 / len(joints)))
    assert m["joint_angle_mae_deg_sagittal"] == pytest.approx(0.5)
    assert m["pelvis_position_error_cm"] == pytest.approx(2.0)
    assert m["pelvis_orientation_mae_deg"] == pytest.approx(0.0, abs=1e-9)

    short = sim.slice_time(0.0, 0.5)
    m = tm.tracking_metrics(ref, short)
    assert m["completed"] is False
    assert m["completed_fraction"] == pytest.approx(0.5)
    assert m["tracking_frames"] == 51


@pytest.mark.parametrize("convention", ["canonical", "legacy"])
def test_metrics_recomputed_from_files_equal_metrics_json(good_twin, tmp_path, convention):
    """Also with the files exported in the legacy convention (knee flexion negative): reading
    them back undoes the export convention recorded in metrics.json."""
    from kintwin.motion.storage import read_table

    ref, res, model, metrics = good_twin
    out = tmp_path / "out"
    write_results(out, res, metrics, convention=convention)
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["info"]["export_convention"] == convention
    sign = -1.0 if convention == "legacy" else 1.0
    np.testing.assert_allclose(read_table(out / "torques.sto").column("knee_angle_l_moment"),
                               sign * res.torque("knee_angle_l"), rtol=1e-6, atol=1e-6)
    assert np.sign(np.median(read_table(out / "kinematics.mot").column("knee_angle_r"))) == sign
    again = tm.recompute_from_output(out, reference=ref, model=model)
    written = doc["metrics"]
    assert tm.compare_metrics(written, again, rtol=1e-6, atol=1e-6) == []
    # and against the numbers passed in (before JSON)
    assert again["joint_angle_mae_deg"] == pytest.approx(metrics["joint_angle_mae_deg"], rel=1e-6)
    assert again["residual_force_mean_pct_bw"] == pytest.approx(
        metrics["residual_force_mean_pct_bw"], rel=1e-6)
    # sanity of the fake twin: small angle noise, completes, events found
    assert metrics["completed"] is True
    assert 0.5 < metrics["joint_angle_mae_deg"] < 1.5
    assert metrics["gait_event_matching"]["n_matched"] >= 8
    assert metrics["spatiotemporal"]["reference"]["cadence_steps_per_min"] == pytest.approx(
        109.1, abs=0.5)


def test_early_termination_recorded_in_metrics(tmp_path):
    ref, res, model = fake_twin(stop_at_s=1.9)
    m = tm.compute_all(res, ref, model=model)
    assert m["completed"] is False
    assert m["completed_fraction"] == pytest.approx(1.9 / 3.3, abs=0.01)
    write_results(tmp_path, res, m)
    again = tm.recompute_from_output(tmp_path, reference=ref, model=model)
    assert again["completed"] is False


# --- report -------------------------------------------------------------------------------------
def _assert_self_contained(text: str):
    assert "http://" not in text and "https://" not in text
    srcs = re.findall(r'src\s*=\s*["\']([^"\']*)', text, flags=re.I)
    assert srcs, "no images"
    assert all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in srcs), srcs[:3]
    assert not re.search(r'href\s*=\s*["\'](?!#)', text, flags=re.I)
    assert "<link" not in text.lower() and "<script" not in text.lower()


def test_report_is_self_contained_and_clean_when_good(good_twin, tmp_path):
    from kintwin.report.html import write_report

    ref, res, model, metrics = good_twin
    path = write_report(tmp_path, res, metrics, ref, trial_name="sample walk (fake twin)")
    text = path.read_text()
    _assert_self_contained(text)
    assert text.count("data:image/png;base64,") == 5
    assert "Do not trust:" not in text
    assert "stopped early" not in text
    assert "Large residual force" not in text
    assert "No force plates were given" in text  # an honest note, not a failure
    assert "Cadence" in text and "109.1" in text


def test_report_warns_when_inputs_warrant(tmp_path):
    from kintwin.report.html import write_report

    ref, res, model = fake_twin(angle_noise_deg=8.0, stop_at_s=1.9, extra_residual_pct_bw=15.0,
                                seed=1)
    metrics = tm.compute_all(res, ref, model=model)
    assert metrics["joint_angle_mae_deg"] > 5
    assert metrics["residual_force_mean_pct_bw"] > 10
    text = write_report(tmp_path, res, metrics, ref).read_text()
    _assert_self_contained(text)
    assert "stopped early" in text
    assert "Large residual force" in text
    assert "Poor tracking" in text
    assert text.count("Do not trust:") >= 3


def test_report_says_when_a_stance_foot_floats_after_calibration(good_twin, tmp_path):
    """A foot whose calibrated stance clearance is beyond the tolerance (2 mm median, 10 mm 95th
    percentile: ``sim.floor``) gets a "read with care" line naming it; one within it does not."""
    from kintwin.report.html import write_report

    ref, res, model, metrics = good_twin
    clearance = {"r": {"stance_frames": 90, "clearance_median_mm": 1.0, "clearance_p95_mm": 6.4,
                       "slide_median_mps": 0.05},
                 "l": {"stance_frames": 97, "clearance_median_mm": 4.8, "clearance_p95_mm": 15.8,
                       "slide_median_mps": 0.13}}
    res = replace(res, info={**(res.info or {}), "stance_clearance": clearance})
    text = write_report(tmp_path, res, metrics, ref).read_text()
    assert "left foot does not stay on the floor" in text
    assert "4.8 mm from the floor" in text and "15.8 mm" in text
    assert "right foot does not stay on the floor" not in text


def test_cycle_normalisation_leaves_out_cycles_the_series_does_not_cover():
    from kintwin.report.figures import normalize

    t = np.arange(0.0, 1.0001, 0.01)  # a series over 0-1 s, e.g. force plates over part of a trial
    y = np.sin(2 * np.pi * t)
    rows = normalize(t, y, [(0.0, 1.0), (0.5, 1.5), (0.2, 0.7)], n=11)
    assert rows.shape == (2, 11)  # (0.5, 1.5) is left out, not extrapolated flat
    np.testing.assert_allclose(rows[0], np.sin(2 * np.pi * np.linspace(0, 1, 11)), atol=2e-3)
    np.testing.assert_allclose(rows[1], np.sin(2 * np.pi * np.linspace(0.2, 0.7, 11)), atol=2e-3)


def test_grf_figure_is_over_the_gait_cycle_like_the_joint_figures():
    from kintwin.analysis.gait_events import GaitEvents
    from kintwin.report.figures import cycles, fig_grf, normalize

    ref, res, model = fake_twin(duration_s=5.5)
    metrics = tm.compute_all(res, ref, model=model)
    events = GaitEvents.from_dict(metrics["gait_events"]["reference"])
    g = res.grf
    bw = res.mass_kg * GRAVITY
    plates = GroundReactions(time_s=g.time_s[: len(g.time_s) // 2],  # plates over the first half
                             force_n={s: g.force_n[s][: len(g.time_s) // 2] for s in "rl"})
    fig = fig_grf(res, plates, events)
    vertical = fig.axes[0]
    assert vertical.get_xlabel() == "% gait cycle"
    lines = {ln.get_label(): ln.get_ydata() for ln in vertical.get_lines()}
    cyc = cycles(events.get("r", "foot_strike"), g.time_s[0], g.time_s[-1])
    assert len(cyc) >= 2
    np.testing.assert_allclose(lines["right twin"],
                               normalize(g.time_s, 100 * g.force_n["r"][:, 1] / bw, cyc).mean(axis=0))
    covered = [(a, b) for a, b in cyc if b <= plates.time_s[-1]]
    assert 1 <= len(covered) < len(cyc)
    np.testing.assert_allclose(lines["right force plate"],
                               normalize(g.time_s, 100 * g.force_n["r"][:, 1] / bw, covered).mean(axis=0))
    # without events, or with fewer than two cycles of each foot, over time (both feet visible)
    assert fig_grf(res, plates).axes[0].get_xlabel() == "time (s)"
    short = GaitEvents.from_dict({**metrics["gait_events"]["reference"],
                                  "l": {"foot_strike": [], "foot_off": []}})
    assert fig_grf(res, plates, short).axes[0].get_xlabel() == "time (s)"


def test_report_figures_keep_their_text_inside_and_apart(good_twin):
    """The figures' fixed margins (``figures._place``, not matplotlib's tight layout): every
    panel's tick labels, axis labels and title lie inside the canvas and clear of the other
    panels and of the legend above them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from kintwin.analysis.gait_events import GaitEvents
    from kintwin.report import figures as F

    ref, res, _, metrics = good_twin
    events = GaitEvents.from_dict(metrics["gait_events"]["reference"])
    twin_events = GaitEvents.from_dict(metrics["gait_events"]["twin"])
    moments = (res.time_s, {n: res.torque(n) for n in res.coordinate_names})
    figs = {"angles": F.fig_joint_angles(ref, res.kinematics, events),
            "angles over time": F.fig_joint_angles(ref, res.kinematics),
            "moments": F.fig_torques(res, events, moments), "grf": F.fig_grf(res, res.grf, events),
            "residuals": F.fig_residuals(res),
            "contacts": F.fig_gait_events([("twin", twin_events), ("reference", events)],
                                          float(res.time_s[0]), float(res.time_s[-1]))}
    for name, fig in figs.items():
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        renderer = canvas.get_renderer()
        w, h = canvas.get_width_height()
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
        boxes += [leg.get_window_extent(renderer) for leg in fig.legends]
        for box in boxes:
            assert box.x0 >= -0.5 and box.y0 >= -0.5 and box.x1 <= w + 0.5 and box.y1 <= h + 0.5, \
                (name, box, (w, h))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                overlap = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
                assert min(overlap) <= 0.5, (name, a, b)


def test_summary_csv_and_html(good_twin, tmp_path):
    import csv

    from kintwin.report.summary import rows_from_output_dirs, summary_row, write_summary

    ref, res, model, metrics = good_twin
    bad = dict(metrics, completed=False, completed_fraction=0.4, joint_angle_mae_deg=9.0)
    write_results(tmp_path / "trial_a", res, metrics)
    rows = rows_from_output_dirs([tmp_path / "trial_a"]) + [summary_row("trial_b", bad)]
    csv_path, html_path = write_summary(rows, tmp_path / "summary")
    table = list(csv.DictReader(csv_path.open()))
    assert [r["trial"] for r in table] == ["trial_a", "trial_b"]
    assert float(table[0]["joint_angle_mae_deg"]) == pytest.approx(metrics["joint_angle_mae_deg"])
    assert table[1]["status"] == "poor" and table[1]["completed"] == "False"
    assert float(table[0]["reference_cadence_steps_per_min"]) == pytest.approx(109.1, abs=0.5)
    text = html_path.read_text()
    _assert_self_contained_no_images(text)
    assert "trial_a" in text and "trial_b" in text and "Poor" in text


def _assert_self_contained_no_images(text: str):
    assert "http://" not in text and "https://" not in text
    assert not re.search(r'(src|href)\s*=', text, flags=re.I)


def test_report_reads_back_written_results(good_twin, tmp_path):
    """The report can be made from the files alone (results read back, metrics from JSON)."""
    from kintwin.report.html import write_report

    ref, res, model, metrics = good_twin
    write_results(tmp_path, res, metrics)
    back = read_results(tmp_path)
    text = write_report(tmp_path, back, back.metrics, ref).read_text()
    _assert_self_contained(text)
    assert back.metrics["gait_events"]["twin"]["r"]["foot_strike"]


def write_previews(out_dir: str | Path) -> list[Path]:
    """Write the FAKE-twin reports (good and bad) and a summary for a visual check."""
    from kintwin.report.html import write_report
    from kintwin.report.summary import summary_row, write_summary

    out = Path(out_dir)
    paths, rows = [], []
    for name, kw in (("good", {}), ("bad", dict(angle_noise_deg=8.0, stop_at_s=1.9,
                                                extra_residual_pct_bw=15.0, seed=1))):
        ref, res, model = fake_twin(**kw)
        m = tm.compute_all(res, ref, model=model)
        write_results(out / name, res, m)
        paths.append(write_report(out / name, res, m, ref,
                                  trial_name=f"sample walk, FAKE twin ({name})"))
        rows.append(summary_row(name, m))
    paths += list(write_summary(rows, out))
    return paths


if __name__ == "__main__":
    for p in write_previews(sys.argv[1] if len(sys.argv) > 1 else "report_preview"):
        print(p)


def test_video_shows_the_two_poses_side_by_side(good_twin, tmp_path):
    from kintwin.report.html import write_report
    from kintwin.report.video import NoGLError, render_frames, render_video

    walk = sample_walk()
    model = build_model(default_skeleton(walk.subject.height_m, walk.subject.mass_kg))
    q = walk.to_qpos(model)
    try:
        same, = render_frames(model, [q[:1], q[:1]], ["", ""], height=120, width=100)
    except NoGLError as e:
        pytest.skip(f"no OpenGL here: {e}")
    other, = render_frames(model, [q[:1], q[40:41]], ["", ""], height=120, width=100)
    assert same.shape == (120, 200, 3)
    np.testing.assert_array_equal(same[:, :100], same[:, 100:])  # same pose, same picture
    assert np.abs(other[:, :100].astype(int) - other[:, 100:].astype(int)).max() > 50
    assert (same[:, :100] > 100).any(axis=-1).mean() > 0.05  # lit, not a black frame

    from PIL import Image

    rate = 1.0 / float(np.mean(np.diff(walk.time_s)))
    path = render_video(model, q[:12], q[:12], rate, tmp_path / "v.gif", fps=rate / 4)
    with Image.open(path) as gif:
        assert gif.n_frames == 3
        assert gif.size == (640, 360)
    ref, res, _, metrics = good_twin
    text = write_report(tmp_path, res, metrics, ref, video=path).read_text()
    _assert_self_contained(text)
    assert text.count("data:image/gif;base64,") == 1
