"""Start-up: what the command line imports; ``kintwin model --out`` writes only MJCF names."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kintwin.cli import main

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
    assert _imported_after("from kintwin.cli import build_parser\nbuild_parser()") == set()


def test_id_does_not_import_plotting_or_learning(tmp_path):
    from kintwin.motion.kinematics_io import write_motion
    from kintwin.motion.sample import sample_walk

    trial = tmp_path / "walk.mot"
    write_motion(trial, sample_walk(duration_s=1.2, rate_hz=60.0))
    argv = ["id", str(trial), "--height", "1.75", "--mass", "70", "--out", str(tmp_path / "id")]
    loaded = _imported_after(f"from kintwin.cli import main\nassert main({argv!r}) == 0")
    assert (tmp_path / "id" / "torques.sto").is_file()
    assert not loaded & {"matplotlib", "jax", "yaml", "scipy.signal"}  # signal: 0.3-0.5 s


@pytest.mark.parametrize("controller", ["qp", "policy"])
def test_twin_does_not_import_jax(tmp_path, controller):
    # neither the whole-body controller twin nor the shipped policy's needs JAX and equinox (1.2-2
    # s of imports, paid by each worker process of a batch): the policy runs in numpy
    from kintwin.motion.kinematics_io import write_motion
    from kintwin.motion.sample import sample_walk

    trial = tmp_path / "walk.mot"
    write_motion(trial, sample_walk(duration_s=1.2))
    argv = ["analyze", str(trial), "--height", "1.75", "--mass", "70", "--controller", controller,
            "--out", str(tmp_path / "twin")]
    loaded = _imported_after(f"from kintwin.cli import main\nassert main({argv!r}) == 0")
    assert (tmp_path / "twin" / "torques.sto").is_file()
    assert "jax" not in loaded


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
