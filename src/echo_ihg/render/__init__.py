"""Renderers: portrait + landmark motion -> frames. Default: `MeshWarpRenderer` (CPU, real time)."""

from echo_ihg.render.base import PortraitState, RenderConfig, Renderer, validate_motion
from echo_ihg.render.meshwarp import MeshWarpRenderer

__all__ = ["MeshWarpRenderer", "PortraitState", "RenderConfig", "Renderer", "validate_motion"]
