"""kintwin ik: markers or video keypoints (.trc/.c3d) -> scaled model + joint kinematics.

Writes to ``--out``:

* ``kinematics.mot``: the joint angles (canonical convention, degrees), for ``kintwin id`` etc.
* ``scales.json``: ``{"segment_scales": {...}, "height_m", "mass_kg", "scaling": {...}}``, accepted
  by the other commands as ``--scales``.
* ``ik_errors.csv``: per frame the marker RMSE and max error, and every marker's error (m).
* ``ik_metrics.json``: summary (marker RMSE, per-marker RMSE, frames/s, what was left out or held).
* ``markers_subject.yaml``: the subject's marker positions (scaled and placed), a ``--marker-map``.
"""

from __future__ import annotations

from pathlib import Path

import math

from .common import add_subject_arguments, add_time_arguments, check_files, check_out_dir

HELP = ("inverse kinematics from markers or keypoints (.trc/.c3d): scale the model from a static "
        "trial, solve joint angles; writes kinematics.mot, scales.json, ik_errors.csv, ik_metrics.json")


def add_arguments(p):
    p.add_argument("markers", type=Path, help="marker trajectories (.trc or .c3d)")
    p.add_argument("--static", type=Path, default=None,
                   help="static (standing) trial used for scaling and marker placement")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--marker-set", default=None,
                   help="built-in marker set: opensim_example, opencap_study, plugin_gait (Vicon "
                        "Plug-in Gait names and common lab variants), keypoints (COCO-17/HALPE-26/"
                        "OpenPose BODY-25 names); default: the one that knows the most of the "
                        "trial's marker names")
    g.add_argument("--marker-map", type=Path, default=None,
                   help="marker map YAML (name -> body, pos, weight) or an .osim with a MarkerSet")
    add_subject_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    add_time_arguments(p, "solve")
    p.add_argument("--ignore-unknown-markers", action="store_true",
                   help="leave out markers the marker set does not know instead of failing")
    p.add_argument("--lock", action="append", default=[], metavar="COORD[=DEG]",
                   help="hold a coordinate at a value (deg, default 0), e.g. --lock mtp_angle_r")
    p.add_argument("--no-scaling", action="store_true",
                   help="keep height/1.80 for every segment (no scale fit)")
    p.add_argument("--no-placement", action="store_true",
                   help="keep the marker map's positions (no placement from the static trial)")
    p.add_argument("--no-refine", action="store_true",
                   help="do not re-place markers that moved on their body between static and trial")


def _locks(items: list[str]) -> dict[str, float]:
    out = {}
    for it in items:
        name, _, val = it.partition("=")
        try:
            out[name.strip()] = math.radians(float(val)) if val else 0.0
        except ValueError:
            raise ValueError(f"--lock {it!r}: expected COORD or COORD=DEGREES") from None
    return out


def run(args):
    from ..ik.markersets import builtin_map, marker_map_from_osim, with_weights_from
    from ..ik.pipeline import MIN_MARKER_SHARE, get_marker_map, load_markers, run_ik, write_ik_outputs
    from ..models.subject import load_scales
    from .common import skeleton_from_args, subject_spec

    check_files(args.markers, args.static, args.marker_map, args.scales, args.osim)
    locks = _locks(args.lock)
    if args.start is not None and args.end is not None and args.end <= args.start:
        raise ValueError(f"--start {args.start:g} s is not before --end {args.end:g} s")
    spec = subject_spec(args)
    skeleton = skeleton_from_args(args) if args.osim else None  # else scaled by the IK itself
    if skeleton is not None:
        height, mass = skeleton.height_m, skeleton.mass_kg
    elif args.height is None or args.mass is None:
        raise ValueError("give the subject's --height (m) and --mass (kg), or --osim MODEL")
    else:
        spec.check()
        height, mass = args.height, args.mass
    trial = load_markers(args.markers)
    if args.osim and not (args.marker_set or args.marker_map):
        # the model's own MarkerSet, weighted like the built-in set where the names agree
        mmap = with_weights_from(marker_map_from_osim(args.osim), builtin_map("opensim_example"))
    else:
        mmap = get_marker_map(args.marker_set, args.marker_map, marker_names=trial.names)
        if not (args.marker_set or args.marker_map):
            known = sum(mmap.resolve(n) is not None for n in trial.names)
            print(f"marker set: {mmap.name} (the built-in set that knows the most of the trial's "
                  f"markers: {known} of {len(trial.names)}; --marker-set/--marker-map to choose)")
    static = load_markers(args.static) if args.static else None
    time_range = None
    if args.start is not None or args.end is not None:
        time_range = (trial.time_s[0] if args.start is None else args.start,
                      trial.time_s[-1] if args.end is None else args.end)
        if time_range[1] < trial.time_s[0] or time_range[0] > trial.time_s[-1]:
            raise ValueError(f"--start/--end {time_range[0]:g}-{time_range[1]:g} s lie outside "
                             f"the markers' {trial.time_s[0]:.3f}-{trial.time_s[-1]:.3f} s")
    check_out_dir(args.out)
    res = run_ik(trial, height, mass, marker_map=mmap, static=static, skeleton=skeleton,
                 segment_scales=load_scales(args.scales),
                 fit_segment_scales=not args.no_scaling,
                 place_markers=False if args.no_placement else None,
                 refine_threshold_m=None if args.no_refine else 0.02,
                 ignore_unknown=args.ignore_unknown_markers,
                 time_range=time_range, locked=locks, trial_name=str(args.markers),
                 static_name=str(args.static) if args.static else "static trial")
    paths = write_ik_outputs(res, args.out, height, mass,
                             extra={"trial": str(args.markers),
                                    "static": str(args.static) if args.static else None,
                                    "osim": str(args.osim) if args.osim else None})
    m = res.metrics
    print(f"IK: {m['n_frames']} frames, marker RMSE {100 * (m['marker_rmse_m'] or float('nan')):.2f} cm, "
          f"{m['frames_per_s']:.0f} frames/s; scaling: {res.scale_info['method']}")
    if m["frames_left_out_s"]:
        spans = " and ".join(f"{a:.3f}-{b:.3f} s" for a, b in m["frames_left_out_s"])
        print(f"left out the frames at {spans}: they see fewer than {MIN_MARKER_SHARE:.0%} of the "
              f"markers (the subject entering or leaving the capture volume?); kinematics "
              f"{res.time_s[0]:.3f}-{res.time_s[-1]:.3f} s")
    if m["unknown_markers_ignored"]:
        print(f"left out unknown markers: {m['unknown_markers_ignored']}")
    for k, p in paths.items():
        print(f"wrote {p}")
    return 0
