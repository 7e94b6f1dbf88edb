"""Start-up: what the command line imports; ``kintwin model --out`` writes only MJCF names; the
numpy low-pass (``motion.filtering``, no scipy.signal import) matches scipy's."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kintwin.cli import main
from kintwin.motion.filtering import butter_lowpass_sos, lowpass

HEAVY = ("mujoco", "scipy", "matplotlib", "jax", "yaml")


def _imported_after(code: str) -> set[str]:
    """Top-level packages (of HEAVY and scipy.signal) imported by running ``code`` in a fresh
    interpreter."""
    watched = set(HEAVY) | {"scipy.signal"}
    probe = f"import sys\n{code}\nprint(' '.join(m for m in sys.modules if m in {watched!r}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_parser_imports_nothing_heavy():
    # building the parser imports every subcommand module: they must import their work lazily
    # (numpy is not checked here: cli/ik_cmd.py still imports it at module level)
    assert _imported_after("from kintwin.cli import build_parser\nbuild_parser()") == set()


def test_id_does_not_import_scipy_signal_or_plotting(tmp_path):
    from kintwin.motion.kinematics_io import write_motion
    from kintwin.motion.sample import sample_walk

    trial = tmp_path / "walk.mot"
    write_motion(trial, sample_walk(duration_s=1.2, rate_hz=60.0))
    argv = ["id", str(trial), "--height", "1.75", "--mass", "70", "--out", str(tmp_path / "id")]
    loaded = _imported_after(f"from kintwin.cli import main\nassert main({argv!r}) == 0")
    assert (tmp_path / "id" / "torques.sto").is_file()
    assert not loaded & {"scipy.signal", "matplotlib", "jax"}


@pytest.mark.parametrize("name", ["m.osim", "m", "m.mot"])
def test_model_out_refuses_non_mjcf_names(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["model", "--height", "1.80", "--mass", "72.6", "--out", str(out)]) == 2
    assert not out.exists() and not any(tmp_path.iterdir())
    assert "give --out NAME.xml" in capsys.readouterr().err


def test_model_out_accepts_mjcf_suffix(tmp_path):
    out = tmp_path / "m.mjcf"
    assert main(["model", "--height", "1.80", "--mass", "72.6", "--out", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<mujoco")


@pytest.mark.parametrize("order", range(1, 9))
def test_lowpass_matches_scipy(order):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(order)
    x = rng.normal(size=(400, 3)).cumsum(axis=0)
    for wn in (0.002, 0.02, 0.1, 0.3, 0.6, 0.9):  # cutoff / Nyquist
        sos = signal.butter(order, wn, output="sos")
        _, h_ref = signal.sosfreqz(sos, 256)
        _, h = signal.sosfreqz(butter_lowpass_sos(order, wn), 256)
        np.testing.assert_allclose(h, h_ref, rtol=0, atol=1e-10)
        # lowpass's own padding: ~3 cutoff periods, at least scipy's default, at most n - 1
        taps = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
        padlen = min(len(x) - 1, max(taps, int(np.ceil(3 * 2.0 / wn))))
        ref = signal.sosfiltfilt(sos, x, axis=0, padtype="odd", padlen=padlen)
        np.testing.assert_allclose(lowpass(x, 2.0, wn, order=order), ref, rtol=0,
                                   atol=1e-9 * np.abs(ref).max())


def test_lowpass_matches_scipy_long_and_along_other_axes():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 5000, 2)).cumsum(axis=1)  # longer than the filter's blocks
    sos = signal.butter(4, 6.0 / 300.0, output="sos")
    ref = signal.sosfiltfilt(sos, x, axis=1, padtype="odd", padlen=300)
    np.testing.assert_allclose(lowpass(x, 600.0, 6.0, axis=1), ref, rtol=0,
                               atol=1e-10 * np.abs(ref).max())
