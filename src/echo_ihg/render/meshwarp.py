"""The default CPU renderer: warp the portrait along the face mesh, paint the mouth interior.

Setup (once per portrait): load and check the portrait, track it, choose the output crop, build the
warp mesh (`mesh.build_mesh`), sample the mouth palette. Per frame: landmarks -> output pixels ->
mesh vertices -> one remap (`warp.TriangleWarper`) -> mouth interior (`mouth.draw_mouth`).

Eyes: the eye openings are fans around the eye centres, painted *under* the face skin, warped from a
copy of the portrait whose irises are inpainted with sclera; each iris is pasted back as a rigid patch
at its target position, clipped to the target eye opening (`iris`), so gaze moves the iris without
stretching the eye. A blink moves the upper-lid vertices down, so the lid skin above the eye stretches
over the opening and hides it; as the eye shuts, an inpainted lid texture and a lash line replace the
stretched lashes (`eyes`). Head turns: face triangles are painted
far-to-near by the landmarks' depth, so the nose and near cheek cover the far side where the mesh folds.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from echo_ihg.errors import InputError, NoFaceError
from echo_ihg.render.base import (PortraitState, RenderConfig, Renderer, crop_image, load_portrait,
                                  output_frame, validate_motion)
from echo_ihg.render.eyes import build_eyelids, draw_eyelids
from echo_ihg.render.iris import build_irises, draw_irises
from echo_ihg.render.mesh import WarpMesh, build_mesh
from echo_ihg.render.mouth import draw_mouth, lip_gap, mouth_palette
from echo_ihg.render.warp import TriangleWarper

log = logging.getLogger(__name__)


class MeshWarpRenderer(Renderer):
    """Mesh-driven warp of one portrait (CPU, real time). See the module docstring."""

    def __init__(self, config: RenderConfig | None = None):
        self.config = config or RenderConfig()

    def setup(self, portrait: np.ndarray | str | Path, landmarks: np.ndarray | None = None) -> PortraitState:
        rgb, source = load_portrait(portrait, self.config)
        if landmarks is None:
            from echo_ihg.tracking.face_mesh import track_image  # MediaPipe: imported only when needed

            try:
                landmarks = track_image(rgb)
            except NoFaceError as exc:
                raise NoFaceError(source, f"no face found in the portrait ({exc.problem})") from None
        else:
            landmarks = validate_motion(landmarks, source)[0]
        h, w = rgb.shape[:2]
        frame = output_frame(landmarks, w, h, self.config.size, source)
        image = crop_image(rgb, frame)
        px = frame.to_pixels(landmarks)
        face = px[:468, :2]
        face_size = float(np.sqrt(np.prod(face.max(0) - face.min(0))))
        if face_size < self.config.min_face_size:
            raise InputError(source, f"the face is only {face_size:.0f} px wide at the {frame.out_w}×"
                                     f"{frame.out_h} output; at least {self.config.min_face_size} px is needed "
                                     f"(use a larger render size or a closer crop)")
        mesh = build_mesh(px, frame.out_w, frame.out_h)
        all_tris = np.concatenate([mesh.outer_tris, mesh.hole_tris, mesh.face_tris])
        sub = 2 if max(frame.out_w, frame.out_h) >= self.config.half_res_maps_from else 1
        warper = TriangleWarper(frame.out_w, frame.out_h, mesh.src, all_tris, subsample=sub)
        warp_source, irises = build_irises(image, px) if self.config.irises else (image, {})
        data = {"mesh": mesh, "warper": warper, "palette": mouth_palette(image, px),
                "warp_source": warp_source, "irises": irises,
                "n_fixed": len(mesh.outer_tris) + len(mesh.hole_tris), "source_gap": lip_gap(px),
                "eyelids": build_eyelids(image, px) if self.config.eyelids else None}
        return PortraitState(image=image, landmarks=landmarks.astype(np.float32), landmarks_px=px,
                             frame=frame, source=source, data=data)

    def render_frame(self, state: PortraitState, landmarks: np.ndarray) -> np.ndarray:
        if landmarks.shape != state.landmarks.shape or not np.isfinite(landmarks).all():
            raise InputError(state.source, f"landmarks must be finite with shape {state.landmarks.shape}, "
                                           f"got shape {landmarks.shape}")
        px = state.frame.to_pixels(landmarks)
        mesh: WarpMesh = state.data["mesh"]
        dst = mesh.target_vertices(px, state.landmarks_px)
        order = self._draw_order(state, px)
        out, map_x, map_y = state.data["warper"].warp(state.data["warp_source"], dst, order)
        if state.data["irises"]:
            draw_irises(out, px, state.data["irises"])
        if self.config.eyelids and state.data["eyelids"] is not None:
            draw_eyelids(out, px, state.data["eyelids"], map_x, map_y)
        if self.config.mouth_interior:
            draw_mouth(out, px, state.data["palette"], state.data["source_gap"])
        return out

    def _draw_order(self, state: PortraitState, px: np.ndarray) -> np.ndarray:
        """Background and hole fans first (fixed order), then face triangles far-to-near."""
        mesh: WarpMesh = state.data["mesh"]
        n_fixed = state.data["n_fixed"]
        fixed = np.arange(n_fixed)
        if not self.config.z_order:
            return np.arange(n_fixed + len(mesh.face_tris))
        depth = px[mesh.face_tris, 2].mean(axis=1)          # MediaPipe: larger z = further away
        return np.concatenate([fixed, n_fixed + np.argsort(-depth, kind="stable")])
