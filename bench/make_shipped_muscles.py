"""Write kintwin's shipped muscle model, ``src/kintwin/data/gait2392_muscles.osim``.

The source is OpenSim's GENERIC (unscaled) gait2392 model, ``gait2392_thelen2003muscle.osim`` of
opensim-org/opensim-models (called ``gait2392_simbody.osim`` before that repository renamed it in
commit 2a6abec; CC BY 3.0, see ``src/kintwin/data/CREDITS.md``). The copy keeps what
``kintwin.models.osim_muscles`` reads: the bodies (mass properties), the joints with their
coordinates and offset frames, and the 92 muscles of the ForceSet (path points and parameters),
plus ``<credits>`` and ``<publications>``. It drops: display geometry (meshes, frame geometry,
appearance, so the file's bodies carry no geometry scale factors and read as scale 1), the
markers, the empty controller, constraint, contact-geometry, probe and component sets, and
OpenSim's per-property XML comments. Numbers are copied as text, unchanged.

Reproduce (the opensim-models mirror at the commit the header records):

    git -C OPENSIM_MODELS show 20a888b9655e73fb84963d6e03eee3752cf6074b:Models/Gait2392_Simbody/gait2392_thelen2003muscle.osim > /tmp/gait2392.osim
    .venv/bin/python bench/make_shipped_muscles.py /tmp/gait2392.osim --commit 20a888b9655e73fb84963d6e03eee3752cf6074b
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from paths import REPO  # noqa: E402
OUT = REPO / "src" / "kintwin" / "data" / "gait2392_muscles.osim"
SOURCE_PATH = "Models/Gait2392_Simbody/gait2392_thelen2003muscle.osim"
KEEP = ("Ground", "gravity", "credits", "publications", "length_units", "force_units", "BodySet",
        "JointSet", "ForceSet")
DROP_ANYWHERE = ("FrameGeometry", "attached_geometry", "Appearance")

HEADER = """
  kintwin's shipped muscle model: a TRIMMED copy of OpenSim's generic (unscaled) gait2392 model.
  Source: https://github.com/opensim-org/opensim-models
          {path}
          commit {commit}
          (the generic 3D 23-dof, 92-muscle gait model; formerly named gait2392_simbody.osim)
  Licence: Creative Commons Attribution 3.0 (CC BY 3.0), http://creativecommons.org/licenses/by/3.0/
          as stated in the model's <credits> below. Authors: Delp, Loan, Hoy, Zajac, Topp, Rosen,
          Thelen, Anderson, Seth. Cite: Delp et al. 1990 (IEEE TBME 37:757-767); Anderson & Pandy
          1999 (CMBBE 2:201-231) and 2001 (J Biomech Eng 123:381-390); Thelen 2003 (J Biomech Eng
          125:70-77, the Thelen2003Muscle model); Yamaguchi & Zajac 1989 (J Biomech 22:1-10).
  Changes (kintwin, bench/make_shipped_muscles.py): removed display geometry (meshes, frame
  geometry, appearance), markers, the empty controller/constraint/contact-geometry/probe/component
  sets and OpenSim's XML comments; re-indented. Bodies, joints, coordinates, the ForceSet (92
  Thelen2003Muscle, path points and parameters) and all numbers are unchanged.
"""


def trim(src: str | Path, commit: str) -> str:
    root = ET.parse(src).getroot()  # the default parser drops XML comments
    model = root.find("Model")
    for child in list(model):
        if child.tag not in KEEP:
            model.remove(child)
    for parent in list(model.iter()):
        for child in list(parent):
            if child.tag in DROP_ANYWHERE:
                parent.remove(child)
    ET.indent(root, space=" ")
    header = HEADER.format(path=SOURCE_PATH, commit=commit)
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<!--' + header + "-->\n"
            + ET.tostring(root, encoding="unicode") + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("source", type=Path, help=f"the generic gait2392 .osim ({SOURCE_PATH})")
    p.add_argument("--commit", required=True, help="opensim-models commit the source was read at")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    text = trim(args.source, args.commit)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text.encode()) / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
