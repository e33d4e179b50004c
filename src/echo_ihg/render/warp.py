"""Dense piecewise-affine warp in one `cv2.remap` per frame.

Per frame: (1) solve every triangle's affine map target -> source (vectorised 3×3 inverses); (2) paint
a triangle-index image of the *target* mesh with `cv2.fillConvexPoly` in painter's order (background,
then eye/mouth fans, then face triangles far-to-near by depth), so nearer triangles win where the mesh
folds over on a head turn; (3) gather each pixel's affine coefficients by index and evaluate the
source coordinates; (4) one bilinear `cv2.remap`.

Painting ~1100 small triangles costs ~1.5 ms at 512 px; the gather ~3 ms. Pixels no triangle covers
keep index F, the identity map (they show the portrait unchanged).
"""

from __future__ import annotations

import cv2
import numpy as np

SUBPIXEL_BITS = 4                     # fillConvexPoly fixed-point precision (1/16 px)
_MIN_AREA2 = 1e-2                     # |2 × area| in px² below which a target triangle is not painted


class TriangleWarper:
    """Reusable buffers for warping one portrait at one output size.

    src: (N, 2) float32 source vertex positions; triangles: (F, 3) int in any order (the draw order is
    given per frame).
    """

    def __init__(self, width: int, height: int, src: np.ndarray, triangles: np.ndarray):
        self.width, self.height = width, height
        self.triangles = np.ascontiguousarray(triangles, dtype=np.int64)
        self.n_tris = len(triangles)
        s = src[self.triangles].astype(np.float64)                      # (F, 3, 2)
        self._src_rows = np.ascontiguousarray(s.transpose(0, 2, 1))     # (F, 2, 3): x row, y row
        self._index = np.empty((height, width), np.int32)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        self._xs, self._ys = xs, ys
        self._coef = np.empty((6, self.n_tris + 1), np.float32)
        self._coef[:, self.n_tris] = (1, 0, 0, 0, 1, 0)                # identity for uncovered pixels

    def maps(self, dst: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source coordinates for every output pixel. dst: (N, 2) target vertices; order: triangle
        indices in painting order (later wins). -> map_x, map_y (H, W) float32."""
        d = dst[self.triangles].astype(np.float64)                      # (F, 3, 2)
        m = np.empty((self.n_tris, 3, 3))
        m[:, 0, :] = d[:, :, 0]
        m[:, 1, :] = d[:, :, 1]
        m[:, 2, :] = 1.0
        det = np.linalg.det(m)
        ok = np.abs(det) > _MIN_AREA2
        m[~ok] = np.eye(3)
        affine = self._src_rows @ np.linalg.inv(m)                       # (F, 2, 3): src = A @ [x, y, 1]
        self._coef[:, :self.n_tris] = affine.reshape(self.n_tris, 6).T
        fixed = np.round(d * (1 << SUBPIXEL_BITS)).astype(np.int32)
        index = self._index
        index.fill(self.n_tris)
        for i in order[ok[order]].tolist():
            cv2.fillConvexPoly(index, fixed[i], i, lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
        c = self._coef
        map_x = np.take(c[0], index)
        map_x *= self._xs
        map_x += np.take(c[1], index) * self._ys
        map_x += np.take(c[2], index)
        map_y = np.take(c[3], index)
        map_y *= self._xs
        map_y += np.take(c[4], index) * self._ys
        map_y += np.take(c[5], index)
        return map_x, map_y

    def warp(self, image: np.ndarray, dst: np.ndarray, order: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Warp `image` (H, W, 3) so that source vertices land on `dst`.
        -> (warped (H, W, 3) same dtype, map_x, map_y) — the maps let callers warp other layers alike."""
        map_x, map_y = self.maps(dst, order)
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), map_x, map_y
