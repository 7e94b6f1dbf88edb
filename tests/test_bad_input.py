"""Bad input and untrustworthy results on the command line: the exit code (2 bad input, 3 not
trustworthy), one line of advice on stderr and no traceback, and nothing written before the
inputs were checked. Readers' own quirks are in test_reader_quirks.py and test_coordinate_map.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kintwin.cli import build_parser, main
from kintwin.motion.kinematics_io import read_motion, write_motion
from kintwin.motion.sample import SAMPLE_HEIGHT_M, SAMPLE_MASS_KG, sample_walk
from kintwin.motion.storage import read_table, write_table

SUBJECT = ["--height", str(SAMPLE_HEIGHT_M), "--mass", str(SAMPLE_MASS_KG)]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GAIT2354 = SHARED / "osim_subject01_walk" / "gait2354"


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """The sample walk as an OpenSim .mot (degrees, canonical) and its Motion."""
    d = tmp_path_factory.mktemp("walk")
    motion = sample_walk(duration_s=1.2)
    return motion, write_motion(d / "walk.mot", motion)


def _run(capsys, argv, code, *words, absent=None):
    """main(argv) returns ``code`` with one 'kintwin ...' line on stderr holding ``words``, no
    traceback, and ``absent`` (a path) not created."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("kintwin ")]
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0], lines[0]
    if absent is not None:
        assert not Path(absent).exists()
    return lines[0]


def _rewrite(src: Path, dst: Path, scale_rot: float, in_degrees: bool) -> Path:
    """``src`` with its rotations multiplied by ``scale_rot`` and the inDegrees flag set."""
    t = read_table(src)
    data = t.data.copy()
    rot = [j for j, n in enumerate(t.labels) if not n.endswith(("_tx", "_ty", "_tz"))]
    data[:, rot] *= scale_rot
    return write_table(dst, t.labels, t.time_s, data, in_degrees=in_degrees)


def _argparse_rejects(argv, capsys, words):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert words in capsys.readouterr().err


# --- units and ranges ------------------------------------------------------------------------
@pytest.mark.parametrize("scale, in_degrees, units", [(1.0, False, "degrees"),
                                                     (np.pi / 180, True, "radians")])
def test_wrong_angle_units_refused_by_every_command(walk, tmp_path, capsys, scale, in_degrees,
                                                    units):
    """Degrees labelled inDegrees=no, and radians labelled degrees: exit 2 with the advice; the
    override reads them right (the knee's range of motion is the sample's)."""
    bad = _rewrite(walk[1], tmp_path / "bad.mot", scale, in_degrees=in_degrees)
    for cmd in ("id", "analyze", "muscles", "train"):
        out = tmp_path / cmd
        _run(capsys, [cmd, str(bad), *SUBJECT, "--out", str(out)], 2, f"--angle-units {units}",
             absent=out)
    out = tmp_path / "ok"
    assert main(["id", str(bad), *SUBJECT, "--angle-units", units, "--out", str(out)]) == 0
    knee = read_motion(out / "kinematics.mot")["knee_angle_r"]
    assert np.ptp(knee) == pytest.approx(np.ptp(walk[0]["knee_angle_r"]), abs=0.02)


def _with_ankle(walk, tmp_path, peak_deg):
    motion = walk[0]
    values = motion.values.copy()
    j = motion.names.index("ankle_angle_r")
    values[:, j] = np.deg2rad(peak_deg) * np.sin(np.linspace(0, np.pi, motion.n_frames))
    m = type(motion)(time_s=motion.time_s, names=motion.names, values=values,
                     subject=motion.subject, source_convention="canonical")
    return write_motion(tmp_path / f"ankle{peak_deg}.mot", m)


def test_one_range_check_for_every_command(walk, tmp_path, capsys):
    """A drop-jump ankle (47 deg dorsiflexion) passes id, analyze's checks and train alike; 75 deg
    is refused by all of them with the same advice, and --allow-out-of-range lets it through."""
    from kintwin.models.subject import SubjectSpec
    from kintwin.twin.analyze import TrialJob, check_job

    deep = _with_ankle(walk, tmp_path, 47)
    assert main(["id", str(deep), *SUBJECT, "--out", str(tmp_path / "id47")]) == 0
    check_job(TrialJob(trial=str(deep), out_dir=tmp_path / "a47",
                       subject=SubjectSpec(SAMPLE_HEIGHT_M, SAMPLE_MASS_KG)))
    absurd = _with_ankle(walk, tmp_path, 75)
    for cmd in ("id", "analyze", "train"):
        out = tmp_path / f"{cmd}75"
        _run(capsys, [cmd, str(absurd), *SUBJECT, "--out", str(out)], 2,
             "ankle_angle_r [0, 75] deg outside", "--allow-out-of-range", absent=out)
    with pytest.warns(UserWarning, match="ankle_angle_r"):
        assert main(["id", str(absurd), *SUBJECT, "--allow-out-of-range",
                     "--out", str(tmp_path / "allowed")]) == 0


def test_a_body_lying_on_its_side_is_refused_by_every_command(walk, tmp_path, capsys):
    """Kinematics of a body lying on its side (OpenSim IK of markers written Z-up and read as
    Y-up): ``kintwin id`` returned them with 80 %BW of residual and exit 0, the twin fell. Every
    command now refuses them, saying why; the same walk upright passes."""
    motion, _ = walk
    a = np.radians(90.0)
    lying = write_motion(tmp_path / "lying.mot",
                         motion.world_rotated(np.array([np.cos(a / 2), np.sin(a / 2), 0, 0]), np.zeros(3)))
    for cmd in ("id", "analyze", "train", "muscles"):
        out = tmp_path / f"{cmd}_lying"
        _run(capsys, [cmd, str(lying), *SUBJECT, "--out", str(out)], 2,
             "the body is not upright", "kintwin ik", absent=out)


@pytest.mark.parametrize("factor, unit", [(1000.0, "millimetres"), (100.0, "centimetres")])
def test_pelvis_translations_not_in_metres_are_refused(walk, tmp_path, capsys, factor, unit):
    """Pelvis translations written in millimetres (or centimetres) and read as metres: kintwin id
    returned 20,000 %BW (2,000 %BW) of residual with exit 0. Every command now refuses them and
    names the likely unit."""
    from dataclasses import replace

    motion, _ = walk
    values = motion.values.copy()
    for n in ("pelvis_tx", "pelvis_ty", "pelvis_tz"):
        values[:, motion.names.index(n)] *= factor
    path = write_motion(tmp_path / "scaled.mot", replace(motion, values=values))
    for cmd in ("id", "analyze", "train", "muscles"):
        out = tmp_path / f"{cmd}_scaled"
        _run(capsys, [cmd, str(path), *SUBJECT, "--out", str(out)], 2, "not in metres", unit, absent=out)


def test_ground_reactions_not_in_newtons_are_refused(walk, tmp_path, capsys):
    """Plates in kilonewtons (or per body weight) read as newtons: classical ID returned ~100 %BW
    of residual. The reactions' peak is checked against the subject's weight; in newtons they
    pass."""
    from dataclasses import replace

    from kintwin.dynamics.contact_estimation import estimate_contacts
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model

    motion, path = walk
    grf = estimate_contacts(motion, build_model(default_skeleton(SAMPLE_HEIGHT_M, SAMPLE_MASS_KG)),
                            mass_kg=SAMPLE_MASS_KG, height_m=SAMPLE_HEIGHT_M).grf
    newtons = grf.write_mot(tmp_path / "n.mot")
    loads = grf.write_external_loads_xml(tmp_path / "n.xml", newtons)
    assert main(["id", str(path), *SUBJECT, "--grf", str(newtons), "--loads", str(loads),
                 "--out", str(tmp_path / "ok")]) == 0
    kn = replace(grf, force_n={s: f / 1000 for s, f in grf.force_n.items()},
                 torque_nm={s: t / 1000 for s, t in grf.torque_nm.items()})
    kn_mot = kn.write_mot(tmp_path / "kn.mot")
    kn_xml = kn.write_external_loads_xml(tmp_path / "kn.xml", kn_mot)
    for cmd, flag in (("id", "--grf"), ("id", "--compare-grf"), ("analyze", "--grf")):
        out = tmp_path / f"{cmd}{flag}"
        _run(capsys, [cmd, str(path), *SUBJECT, flag, str(kn_mot), "--loads", str(kn_xml), "--out", str(out)],
             2, "not newtons", absent=out)


def test_feet_swapped_in_the_loads_file_are_refused(walk, tmp_path, capsys):
    """An ExternalLoads file that applies each plate to the other foot: classical ID gave the same
    residual (the whole body does not see which foot is pushed) and wrong joint moments, with
    exit 0. The centre of pressure lies under the other foot: refused, saying so."""
    from kintwin.dynamics.contact_estimation import estimate_contacts
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.build import build_model

    motion, path = walk
    grf = estimate_contacts(motion, build_model(default_skeleton(SAMPLE_HEIGHT_M, SAMPLE_MASS_KG)),
                            mass_kg=SAMPLE_MASS_KG, height_m=SAMPLE_HEIGHT_M).grf
    mot = grf.write_mot(tmp_path / "grf.mot")
    swapped = grf.write_external_loads_xml(tmp_path / "swapped.xml", mot,
                                           bodies={"r": "calcn_l", "l": "calcn_r"})
    for cmd, flag in (("id", "--grf"), ("analyze", "--grf")):
        out = tmp_path / f"{cmd}_swapped"
        _run(capsys, [cmd, str(path), *SUBJECT, flag, str(mot), "--loads", str(swapped), "--out", str(out)],
             2, "foot's ground reaction acts where the", "swapped", absent=out)
    # a centre of pressure in millimetres lies under neither foot: said so, not "swapped"
    from dataclasses import replace

    mm = replace(grf, cop_m={s: 1000 * c for s, c in grf.cop_m.items()})
    mm_mot = mm.write_mot(tmp_path / "mm.mot")
    mm_xml = mm.write_external_loads_xml(tmp_path / "mm.xml", mm_mot)
    out = tmp_path / "id_mm"
    _run(capsys, ["id", str(path), *SUBJECT, "--grf", str(mm_mot), "--loads", str(mm_xml), "--out", str(out)],
         2, "not in metres (millimetres?)", absent=out)


def test_reference_moments_not_in_newton_metres_are_refused(walk, tmp_path, capsys):
    """Reference moments normalised by body mass (N*m/kg) scored as N*m made the twin's moments
    look 50x wrong. Their knee moments are compared in size with the trial's own inverse dynamics
    when the convention is detected: refused; the same file in N*m is accepted."""
    motion, path = walk
    assert main(["id", str(path), *SUBJECT, "--out", str(tmp_path / "ref")]) == 0
    table = read_table(tmp_path / "ref" / "torques.sto")
    per_kg = write_table(tmp_path / "per_kg.sto", table.labels, table.time_s,
                         table.data / SAMPLE_MASS_KG, in_degrees=False)
    assert main(["id", str(path), *SUBJECT, "--reference-id", str(tmp_path / "ref" / "torques.sto"),
                 "--out", str(tmp_path / "ok")]) == 0
    out = tmp_path / "per_kg"
    _run(capsys, ["id", str(path), *SUBJECT, "--reference-id", str(per_kg), "--out", str(out)], 2,
         "not in N*m", absent=out)


def test_a_trial_without_pelvis_translations_is_refused(walk, tmp_path, capsys):
    """Joint angles without the pelvis's translations (IMU kinematics): held still, kintwin id's
    total vertical force came out flat at 97-103 %BW where the walk's centre of mass asks for
    76-141, with exit 0. Every command refuses such a trial, saying why."""
    motion, _ = walk
    keep = [n for n in motion.names if n not in ("pelvis_tx", "pelvis_ty", "pelvis_tz")]
    path = write_motion(tmp_path / "no_translations.mot", motion.reordered(keep))
    for cmd in ("id", "analyze", "train", "muscles"):
        out = tmp_path / f"{cmd}_still"
        _run(capsys, [cmd, str(path), *SUBJECT, "--out", str(out)], 2, "no vertical pelvis translation",
             absent=out)


def test_a_trial_with_missing_frames_is_refused(walk, tmp_path, capsys):
    """0.3 s of frames missing mid-trial: the spline bridged the gap without a word (kintwin id,
    exit 0). Every command now names the gap; a trial sampled with a little jitter passes."""
    from dataclasses import replace

    motion, _ = walk
    keep = (motion.time_s < 0.5) | (motion.time_s > 0.8)
    gap = write_motion(tmp_path / "gap.mot", replace(motion, time_s=motion.time_s[keep], values=motion.values[keep]))
    for cmd in ("id", "analyze", "train", "muscles"):
        out = tmp_path / f"{cmd}_gap"
        _run(capsys, [cmd, str(gap), *SUBJECT, "--out", str(out)], 2, "frames are missing", "after t = 0.49",
             absent=out)
    rng = np.random.default_rng(0)
    jitter = motion.time_s + rng.uniform(-0.002, 0.002, motion.n_frames) * (np.arange(motion.n_frames) % 2)
    jittered = write_motion(tmp_path / "jitter.mot", replace(motion, time_s=jitter))
    assert main(["id", str(jittered), *SUBJECT, "--out", str(tmp_path / "jitter")]) == 0


def test_a_planar_trial_says_what_it_lacks(walk, tmp_path):
    """Kinematics of a planar model (sagittal coordinates only): the missing ones are held at 0
    and the frontal and transverse kinetics become the model's guess (the twin's residual 3.1 ->
    6.7 %BW on the sample walk). Said, naming them; a trial without arms is not worth a word."""
    motion, _ = walk
    planar = ["pelvis_tilt", "pelvis_tx", "pelvis_ty", "lumbar_extension"] + [
        f"{c}_{s}" for c in ("hip_flexion", "knee_angle", "ankle_angle") for s in "rl"]
    path = write_motion(tmp_path / "planar.mot", motion.reordered(planar))
    with pytest.warns(UserWarning, match="lacks 11 coordinate.*pelvis_list.*hip_adduction_r"):
        assert main(["id", str(path), *SUBJECT, "--out", str(tmp_path / "planar")]) == 0
    legs = write_motion(tmp_path / "legs.mot", motion.reordered(
        [n for n in motion.names if not n.startswith(("arm_", "elbow_", "pro_sup", "wrist_", "neck_"))]))
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["id", str(legs), *SUBJECT, "--out", str(tmp_path / "legs")]) == 0
    assert not any("lacks" in str(w.message) for w in caught)


# --- subject ----------------------------------------------------------------------------------
def test_no_silent_default_subject(walk, tmp_path, capsys):
    for cmd in ("id", "analyze", "train"):
        out = tmp_path / cmd
        _run(capsys, [cmd, str(walk[1]), "--out", str(out)], 2, "--height", "--mass", absent=out)
    _run(capsys, ["id", str(walk[1]), "--height", "1.75", "--out", str(tmp_path / "m")], 2,
         "--mass (kg) is needed")
    scales = tmp_path / "scales.json"
    scales.write_text(json.dumps({"segment_scales": {"femur_r": 50}}))
    _run(capsys, ["id", str(walk[1]), *SUBJECT, "--scales", str(scales), "--out",
                  str(tmp_path / "s")], 2, "scale factor 50", absent=tmp_path / "s")


def test_kinematics_from_kintwin_ik_bring_their_segment_scales(walk, tmp_path, capsys):
    """A trial beside ``kintwin ik``'s scales.json is read with the skeleton the IK solved it on
    (and its height and mass when not given); --scales overrides it; a foreign scales.json (not
    kintwin ik's) is ignored."""
    from kintwin.models.anthropometry import default_skeleton
    from kintwin.models.subject import SubjectSpec, resolve_subject
    from kintwin.motion.kinematics_io import read_motion, write_motion

    folder = tmp_path / "ik"
    folder.mkdir()
    trial = write_motion(folder / "kinematics.mot", read_motion(walk[1]))
    ik_scales = {"femur_r": 1.2, "femur_l": 1.2, "tibia_r": 0.9, "tibia_l": 0.9}
    (folder / "scales.json").write_text(json.dumps(
        {"segment_scales": ik_scales, "height_m": 1.70, "mass_kg": 65.0, "scaling": {}}))
    motion = read_motion(trial)
    notes = []
    skel = resolve_subject(SubjectSpec(), motion.subject, note=notes.append)
    expected = default_skeleton(1.70, 65.0, ik_scales)
    assert skel.height_m == pytest.approx(1.70) and skel.mass_kg == pytest.approx(65.0)
    for a, b in zip(skel.bodies, expected.bodies):
        np.testing.assert_allclose(a.pos_in_parent, b.pos_in_parent)
    assert "written by kintwin ik" in notes[0] and "height 1.70 m" in notes[0]
    own = resolve_subject(SubjectSpec(1.80, 80.0, scales={"femur_r": 1.0}), motion.subject,
                          note=notes.append)  # given scales win
    femur = next(b for b in own.bodies if b.name == "tibia_r")  # the femur's length: tibia offset
    femur_ik = next(b for b in skel.bodies if b.name == "tibia_r")
    assert abs(femur.pos_in_parent[1]) < abs(femur_ik.pos_in_parent[1])
    assert main(["id", str(trial), "--out", str(tmp_path / "id")]) == 0  # height/mass from it
    assert "segment scales" in capsys.readouterr().err
    (folder / "scales.json").write_text(json.dumps({"femur_r": 1.2}))  # not kintwin ik's
    assert read_motion(trial).subject.scales_file is None


@pytest.mark.skipif(not GAIT2354.is_dir(), reason=f"shared OpenSim data absent ({GAIT2354})")
def test_osim_mass_optional_and_scaled_when_given(tmp_path, capsys):
    from kintwin.models.osim import load_osim

    osim, trial = GAIT2354 / "subject01_simbody.osim", GAIT2354 / "subject01_walk1_ik.mot"
    model_mass = load_osim(osim).mass_kg
    for mass, expect in ((None, model_mass), (80.0, 80.0)):
        out = tmp_path / f"m{mass}"
        argv = ["id", str(trial), "--osim", str(osim), "--out", str(out)]
        assert main(argv + (["--mass", str(mass)] if mass else [])) == 0
        err = capsys.readouterr().err
        assert "estimated from the OpenSim model's geometry" in err
        assert ("scaled to --mass 80.0 kg" in err) == (mass is not None)
        meta = json.loads((out / "metrics.json").read_text())
        assert meta["subject"]["mass_kg"] == pytest.approx(expect, rel=1e-6)
    _run(capsys, ["id", str(trial), "--osim", str(osim), "--scales", str(osim), "--out",
                  str(tmp_path / "x")], 2, "--scales applies to the built-in model")


# --- options ----------------------------------------------------------------------------------
def test_options_checked_by_argparse(walk, tmp_path, capsys):
    t, out = str(walk[1]), str(tmp_path / "o")
    _argparse_rejects(["id", t, *SUBJECT, "--cutoff", "-1", "--out", out], capsys, "must be >= 0")
    _argparse_rejects(["train", t, "--envs", "0", "--out", out], capsys, "must be >= 1")
    _argparse_rejects(["analyze", t, "--workers", "0", "--out", out], capsys, "must be >= 1")
    _argparse_rejects(["id", t, "--height", "-1.7", "--mass", "70", "--out", out], capsys,
                      "must be > 0")
    assert not Path(out).exists()


def test_time_window_spelled_alike():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    for cmd in ("id", "ik", "analyze", "train", "muscles"):
        opts = {o for a in sub[cmd]._actions for o in a.option_strings}
        assert {"--start", "--end"} <= opts, cmd
        assert not opts & {"--stop", "--time-range"}, cmd


def test_window_outside_trial(walk, tmp_path, capsys):
    out = tmp_path / "w"
    _run(capsys, ["id", str(walk[1]), *SUBJECT, "--start", "5", "--end", "6", "--out", str(out)],
         2, "outside the trial", absent=out)
    assert main(["id", str(walk[1]), *SUBJECT, "--start", "0.2", "--end", "0.8",
                 "--out", str(out)]) == 0
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["time_range_s"] == pytest.approx([0.2, 0.8], abs=0.011)


# --- output folder, other inputs --------------------------------------------------------------
def test_out_that_is_a_file_or_unwritable(walk, tmp_path, capsys):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("mine")
    for cmd in ("id", "analyze"):
        _run(capsys, [cmd, str(walk[1]), *SUBJECT, "--out", str(a_file)], 2, "is a file")
        _run(capsys, [cmd, str(walk[1]), *SUBJECT, "--out", str(a_file / "sub")], 2, "--out")
    assert a_file.read_text() == "mine"


def _plates(path: Path, t0: float, t1: float) -> Path:
    """Two plates with a constant 350 N each under the feet, from t0 to t1 s."""
    t = np.arange(t0, t1 + 1e-9, 0.01)
    labels, cols = [], []
    for pre in ("ground", "1_ground"):
        for kind, vals in (("force_v", (0, 350, 0)), ("force_p", (0.1, 0, 0.1)),
                           ("torque_", (0, 0, 0))):
            for ax, v in zip("xyz", vals):
                labels.append(f"{pre}_{kind}{ax}")
                cols.append(np.full_like(t, v))
    return write_table(path, labels, t, np.column_stack(cols))


def test_grf_and_reference_must_overlap_the_trial(walk, tmp_path, capsys):
    plates = _plates(tmp_path / "late.mot", 10.0, 11.0)
    for cmd in ("id", "analyze"):
        out = tmp_path / cmd
        _run(capsys, [cmd, str(walk[1]), *SUBJECT, "--grf", str(plates), "--foot-of",
                      "ground=r,1_ground=l", "--out", str(out)], 2, "in common", absent=out)
    ref = write_table(tmp_path / "ref.sto", ["knee_angle_r_moment"], np.arange(10, 11, 0.01),
                      np.zeros((100, 1)))
    out = tmp_path / "ref_out"
    _run(capsys, ["analyze", str(walk[1]), *SUBJECT, "--reference-id", str(ref), "--out", str(out)],
         2, "reference moments", absent=out)


def test_invalid_loads_xml_and_c3d(walk, tmp_path, capsys):
    plates = _plates(tmp_path / "plates.mot", 0.0, 1.2)
    xml = tmp_path / "loads.xml"
    xml.write_text("<OpenSimDocument><ExternalLoads><objects>")
    out = tmp_path / "x"
    _run(capsys, ["id", str(walk[1]), *SUBJECT, "--grf", str(plates), "--loads", str(xml),
                  "--out", str(out)], 2, "loads.xml", absent=out)
    for name, content in (("empty.c3d", b""), ("text.c3d", b"time\tx\n0\t1\n")):
        (tmp_path / name).write_bytes(content)
        _run(capsys, ["ik", str(tmp_path / name), *SUBJECT, "--out", str(out)], 2, name,
             absent=out)


# --- the reference's sign convention ----------------------------------------------------------
def test_reference_convention_detected_from_the_reference(walk, tmp_path, capsys):
    """Moments written by a knee-negative (legacy) model and by a canonical one are both scored
    with the right sign, whatever the trial's own convention; unrelated moments are refused."""
    base = tmp_path / "base"
    assert main(["id", str(walk[1]), *SUBJECT, "--out", str(base)]) == 0
    tq = read_table(base / "torques.sto")
    for conv, sign in (("canonical", 1.0), ("legacy", -1.0)):
        data = tq.data.copy()
        for j, lab in enumerate(tq.labels):
            if lab.startswith("knee_angle"):
                data[:, j] *= sign
        ref = write_table(tmp_path / f"ref_{conv}.sto", tq.labels, tq.time_s, data)
        out = tmp_path / conv
        assert main(["id", str(walk[1]), *SUBJECT, "--reference-id", str(ref),
                     "--out", str(out)]) == 0
        meta = json.loads((out / "metrics.json").read_text())
        assert meta["info"]["reference_convention"] == conv
        assert meta["metrics"]["moment_r"]["knee_angle_r"] > 0.999
    rng = np.random.default_rng(0)
    noise = write_table(tmp_path / "noise.sto", tq.labels, tq.time_s,
                        rng.normal(size=tq.data.shape))
    _run(capsys, ["id", str(walk[1]), *SUBJECT, "--reference-id", str(noise), "--out",
                  str(tmp_path / "n")], 2, "--reference-convention")
    assert main(["id", str(walk[1]), *SUBJECT, "--reference-id", str(noise),
                 "--reference-convention", "canonical", "--out", str(tmp_path / "n")]) == 0


@pytest.mark.skipif(not GAIT2354.is_dir(), reason=f"shared OpenSim data absent ({GAIT2354})")
def test_knee_positive_ik_scored_against_gait2354_id(tmp_path):
    """`ik` writes knee-positive kinematics; chained with gait2354's (knee-negative) ID file the
    knee moments must still correlate positively (they came out r = -0.99 before)."""
    trial = write_motion(tmp_path / "ik.mot", read_motion(GAIT2354 / "subject01_walk1_ik.mot"),
                         convention="canonical")
    out = tmp_path / "out"
    assert main(["id", str(trial), "--height", "1.8", "--mass", "72.6", "--reference-id",
                 str(GAIT2354 / "ID_inverse_dynamics.sto"), "--out", str(out)]) == 0
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["info"]["reference_convention"] == "legacy"
    assert min(meta["metrics"]["moment_r"][k] for k in ("knee_angle_r", "knee_angle_l")) > 0.8


# --- exit code 3 and --debug ------------------------------------------------------------------
def test_fallen_twin_exits_3(walk, tmp_path, capsys, monkeypatch):
    import kintwin.twin.analyze as analyze

    monkeypatch.setattr(analyze, "analyze_trial",
                        lambda job, *a, **k: {"completed": False, "completed_fraction": 0.11})
    _run(capsys, ["analyze", str(walk[1]), *SUBJECT, "--out", str(tmp_path / "o")], 3,
         "did not complete", "11 %")


def test_interrupted_training_exits_3_with_resume_command(walk, tmp_path, capsys, monkeypatch):
    import kintwin.learn.train as train

    ckpt = str(tmp_path / "o" / "checkpoint.npz")
    monkeypatch.setattr(train, "train", lambda *a, **k: {"stopped": "interrupted",
                                                         "env_steps": 4096, "checkpoint": ckpt})
    assert main(["train", str(walk[1]), *SUBJECT, "--out", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err
    assert "interrupted after 4096 steps" in err and f"--resume {ckpt}" in err


def test_debug_shows_the_traceback(tmp_path):
    assert main(["id", str(tmp_path / "missing.mot"), *SUBJECT, "--out", str(tmp_path)]) == 2
    with pytest.raises(ValueError, match="no such file"):
        main(["--debug", "id", str(tmp_path / "missing.mot"), *SUBJECT, "--out", str(tmp_path)])


def test_other_coordinate_names_get_in_with_a_map(walk, tmp_path, capsys):
    """Published-data names: hip_flex_r etc. are renamed on their own; lumbar_pitch (sign
    unknown) is refused with the way in, and a --coordinate-map lets id and analyze read it."""
    t = read_table(walk[1])
    rename = {"hip_flexion_r": "hip_flex_r", "knee_angle_r": "knee_flex_r",
              "subtalar_angle_r": "subt_angle_r", "lumbar_extension": "lumbar_pitch"}
    other = write_table(tmp_path / "other.mot", [rename.get(n, n) for n in t.labels], t.time_s,
                        t.data, in_degrees=True)
    out = tmp_path / "o"
    _run(capsys, ["id", str(other), *SUBJECT, "--out", str(out)], 2, "lumbar_pitch",
         "--coordinate-map", absent=out)
    cmap = tmp_path / "map.yaml"
    cmap.write_text("lumbar_pitch: {name: lumbar_extension, sign: -1}\n")
    _run(capsys, ["analyze", str(other), *SUBJECT, "--coordinate-map", str(cmap), "--start", "0",
                  "--end", "0.05", "--out", str(out)], 2, "at least 10 needed", absent=out)
    with pytest.warns(UserWarning, match="hip_flex_r"):
        assert main(["id", str(other), *SUBJECT, "--coordinate-map", str(cmap), "--cutoff", "0",
                     "--out", str(out)]) == 0
    got = read_motion(out / "kinematics.mot")
    for n in ("hip_flexion_r", "knee_angle_r", "subtalar_angle_r"):
        np.testing.assert_allclose(got[n], walk[0][n], atol=1e-6)
    np.testing.assert_allclose(got["lumbar_extension"], -walk[0]["lumbar_extension"], atol=1e-6)


def test_wrong_kind_of_file_as_the_trial(walk, tmp_path, capsys):
    plates = _plates(tmp_path / "plates.mot", 0.0, 1.2)
    out = tmp_path / "o"
    _run(capsys, ["analyze", str(plates), *SUBJECT, "--out", str(out)], 2, "ground reactions",
         "--grf", absent=out)
    trc = tmp_path / "walk.trc"
    trc.write_text("PathFileType\t4\t(X/Y/Z)\twalk.trc\n")
    _run(capsys, ["id", str(trc), *SUBJECT, "--out", str(out)], 2, "kintwin ik", absent=out)
