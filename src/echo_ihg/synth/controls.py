"""Names of the semantic face-rig controls, shared by the behaviour models and the rig.

Expression controls are in [0, 1] (gaze in [−1, 1]); head rotations are in degrees, translations in
units of the face's inter-ocular distance.
"""

from __future__ import annotations

CONTROL_NAMES: tuple[str, ...] = (
    "jaw_open", "lip_round", "lip_stretch", "lip_press", "upper_lip_raise", "lower_lip_depress",
    "smile_l", "smile_r", "corners_down", "cheek_raise", "blink_l", "blink_r", "eye_widen", "eye_squint",
    "brow_inner_raise", "brow_outer_raise", "brow_furrow", "gaze_yaw", "gaze_pitch",
    "head_pitch", "head_yaw", "head_roll", "head_tx", "head_ty", "head_tz",
)
CONTROL_INDEX: dict[str, int] = {n: i for i, n in enumerate(CONTROL_NAMES)}
N_CONTROLS = len(CONTROL_NAMES)
POSE_CONTROLS = CONTROL_NAMES[-6:]
