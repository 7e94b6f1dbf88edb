"""Video of the twin beside the reference: MuJoCo offscreen rendering, written as an animated GIF.

Two panels per frame, the reference kinematics (left) and the twin (right), each seen from the
subject's right side by a camera that follows the pelvis. Rendering needs an OpenGL context:
without a display, MuJoCo's EGL or OSMesa back end (``MUJOCO_GL=egl`` / ``osmesa``, chosen
before ``mujoco`` is imported; ``kintwin`` picks EGL on a headless Linux machine unless told
otherwise). Where no context can be made, :func:`render_video` says so and returns ``None``.
The GIF (Pillow) keeps the report self-contained: browsers play it inline from a data URI.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np


class NoGLError(RuntimeError):
    """No OpenGL context for offscreen rendering."""


def _renderer(model: mujoco.MjModel, height: int, width: int) -> mujoco.Renderer:
    try:
        return mujoco.Renderer(model, height, width)
    except Exception as e:  # noqa: BLE001 - GLFW/EGL/OSMesa report failures in many types
        raise NoGLError(f"no OpenGL context for offscreen rendering ({type(e).__name__}: {e}); "
                        "set MUJOCO_GL=egl or MUJOCO_GL=osmesa with that library installed") from e


def render_frames(model: mujoco.MjModel, qpos_panels: list[np.ndarray], labels: list[str],
                  height: int = 360, width: int = 320) -> list[np.ndarray]:
    """RGB frames (height, width x panels, 3) uint8: panel i shows ``qpos_panels[i][k]``."""
    from PIL import Image, ImageDraw

    n = min(len(q) for q in qpos_panels)
    model = _with_offscreen_size(model, width, height)
    renderer = _renderer(model, height, width)
    for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                 mujoco.mjtRndFlag.mjRND_SKYBOX):  # software GL: 10x faster without them
        renderer.scene.flags[flag] = False
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.distance, cam.azimuth, cam.elevation = 3.2, 90.0, -8.0
    frames = []
    try:
        for k in range(n):
            panels = []
            for q, label in zip(qpos_panels, labels):
                data.qpos[:] = q[k]
                mujoco.mj_kinematics(model, data)
                cam.lookat[:] = [data.qpos[0], data.qpos[1], 0.9]
                renderer.update_scene(data, camera=cam)
                img = Image.fromarray(renderer.render())
                ImageDraw.Draw(img).text((8, 8), label, fill=(255, 255, 255))
                panels.append(np.asarray(img))
            frames.append(np.concatenate(panels, axis=1))
    finally:
        renderer.close()
    return frames


def _with_offscreen_size(model: mujoco.MjModel, width: int, height: int) -> mujoco.MjModel:
    """The renderer needs an offscreen buffer at least as large as the image; a brighter
    headlight (visual-only settings, changed in place)."""
    model.vis.headlight.ambient = np.maximum(model.vis.headlight.ambient, 0.4)
    model.vis.global_.offwidth = max(width, model.vis.global_.offwidth)
    model.vis.global_.offheight = max(height, model.vis.global_.offheight)
    return model


def render_video(model: mujoco.MjModel, twin_qpos: np.ndarray, reference_qpos: np.ndarray,
                 rate_hz: float, path: str | Path, fps: float = 25.0) -> Path | None:
    """Animated GIF of the reference (left) and the twin (right), frame k of each at the same
    time, resampled from ``rate_hz`` to about ``fps``; ``None`` (and a message) without GL."""
    step = max(1, int(round(rate_hz / fps)))
    try:
        frames = render_frames(model, [reference_qpos[::step], twin_qpos[::step]],
                               ["reference", "twin"])
    except NoGLError as e:
        print(f"video skipped: {e}", flush=True)
        return None
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=int(round(1000.0 * step / rate_hz)), optimize=True)
    return path
