"""Files shipped inside the package (portraits, canonical face, default codec and model)."""

from __future__ import annotations

from pathlib import Path

from echo_ihg.errors import InputError

ASSETS_DIR = Path(__file__).resolve().parent


def asset_path(*parts: str) -> Path:
    """Path of a file shipped in `echo_ihg/assets` (parts may hold '/'). Raises InputError when it is missing."""
    path = ASSETS_DIR.joinpath(*parts)
    if not path.exists():
        raise InputError(path, "packaged asset missing (reinstall echo-ihg, or rebuild it with scripts/build_*.py)")
    return path


def default_portrait() -> Path:
    """The avatar portrait used by the demo: NASA's public-domain astronaut photo (skimage.data.astronaut)."""
    return asset_path("portraits", "astronaut.jpg")


def default_user_portrait() -> Path:
    """A second real face for the demo's user clip: Grace Hopper (US Navy, public domain; matplotlib sample)."""
    return asset_path("portraits", "grace_hopper.jpg")
