"""Face tracking: MediaPipe face mesh (478 landmarks with iris) for portraits and videos.

See `echo_ihg.tracking.face_mesh` for coordinates, face selection and small-image handling, and
`echo_ihg.tracking.gaps` for the gap policy (short gaps interpolated, long gaps masked and reported).
"""

from echo_ihg.tracking.face_mesh import (FaceTracker, TrackerConfig, TrackResult, track_frames,
                                         track_image, track_video)
from echo_ihg.tracking.gaps import Gap, fill_gaps

__all__ = ["FaceTracker", "TrackerConfig", "TrackResult", "track_frames", "track_image", "track_video",
           "Gap", "fill_gaps"]
