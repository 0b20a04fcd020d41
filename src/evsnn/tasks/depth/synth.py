"""A small, learnable, synthetic MVSEC tree in the exact layout of the real HDF5 release.

What is written (reference/FORMATS.md section 3; everything synthetic)::

    root/{scene}/{seq}_data.hdf5    /davis/{left,right}/events (N, 4) float64 x, y, t [s, ROS epoch], p (-1/+1),
                                    in raw (distorted) pixels, sorted by t;
                                    /davis/{left,right}/image_raw_ts (~31 Hz), image_raw_event_inds (the first event
                                    at or after each image), image_raw (M, 260, 346) uint8 when ``images``
    root/{scene}/{seq}_gt.hdf5      /davis/left/depth_image_rect(_ts) (D, 260, 346) float32 metres, NaN = no depth,
                                    ~20 Hz, timestamps never within 2 ms of an image timestamp;
                                    /davis/left/depth_image_raw(_ts) (the same maps in raw pixels, depth along the raw
                                    camera's optical axis); /davis/right/... too when ``right_depth``
    root/{scene}/{scene}_calib/     camchain-imucam-{scene}.yaml (cam0 = left, cam1 = right: pinhole, equidistant
                                    distortion, rectification_matrix, projection_matrix, resolution [346, 260]) and
                                    {scene}_{left,right}_{x,y}_map.txt (260 x 346, raw pixel -> rectified pixel)

Geometry. Two DAVIS346 cameras (346 x 260) with slightly different intrinsics and a mild barrel distortion (in
Kalibr's equidistant model; the corners move by ~4-5 px), rectified by small rotations (rectification_matrix, < 1 degree) onto a
common rectified pinhole camera ``f = 226.38 px`` with ``fB = 19.941772 px·m`` (MVSEC indoor_flying, FORMATS 3.5):
the right camera sits ``B = fB / f ≈ 8.8 cm`` to the right, so a point at depth ``Z`` has disparity ``fB / Z`` px
between the rectified left and right images. The rectification maps are computed from that model (undistort,
rotate, project), so they are smooth and non-trivial, and the events rectified with them land where the rectified
scene is.

Scene. A static room seen by a rig that moves like the MVSEC drone (smooth translation, ~0.1-0.5 m/s, no
rotation): a floor 1.2 m below the cameras and a few (``n_planes``) textured rectangles at depths in
``depth_range`` (default 1-6 m), fronto-parallel or slanted (turned 20-50 degrees about the vertical), in front of
a uniform far background. Every surface carries a world-fixed texture (random dark/bright texels of
``texel_m`` metres with soft edges), so the apparent texture scale and the image speed both fall as 1/depth: depth
is learnable monocularly (less well) as well as from the stereo disparity. Each sequence (indoor_flying1, 2, 3 ...)
has its own layout and trajectory, so the split protocols of the real data apply unchanged.

Events. Each camera's log intensity is rendered (ray cast through the rectified ray of every *raw* pixel) every
``step_s`` seconds and at every image timestamp; a pixel emits an event each time its log intensity moves a
contrast threshold (``contrast_threshold`` ± 10 % per pixel) away from its reference level, at the time found by
linear interpolation within the step, ON for increases and OFF for decreases (the ESIM model), plus uniform
background-activity noise (``noise_rate`` events per pixel per second). Timestamps are whole microseconds.

Ground truth. ``depth_image_rect`` is the exact z-depth (metres, float32) of the surface seen by each rectified
pixel centre at the depth timestamp. Like the lidar maps it has holes (NaN): everything farther than
``max_valid_depth`` (the background, the far floor), a few missing rows and a few rectangular drop-outs per map.

The default tree (indoor_flying1-3, 2 s each, 40 depth maps and ~65 images per sequence and camera, renders every
20 ms) holds 110-135 k events per camera and second (220-270 k events per camera and sequence), about 23 MB (8 MB of
events, 11 MB of depth, 4 MB of text maps), and is written in about 5 s on one core. Deterministic for a given seed;
a sequence depends only on (seed, sequence name) and the settings.
"""
from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from evsnn.io.mvsec import CAMERAS, calib_file_names, data_file_name, gt_file_name, scene_of

__all__ = ["write_mvsec_tree", "Plane", "StereoRig", "make_rig", "make_scene", "make_trajectory",
           "FOCAL_RECT", "FB_INDOOR", "SIZE"]

SIZE = (260, 346)  # H, W
FOCAL_RECT = 226.38
FB_INDOOR = 19.941772
CX_RECT, CY_RECT = 173.25, 131.5
#: the fractional start of each sequence on the ROS clock (µs after its whole second)
START_FRACTION_US = 453_700
IMAGE_PERIOD_S = 0.032
DEPTH_PERIOD_S = 0.05
#: texture lookup-table samples per texel
LUT_SAMPLES = 16


# ----------------------------------------------------------------------------------------------- geometry
def _equidistant_distort(a: np.ndarray, b: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.hypot(a, b)
    th = np.arctan(r)
    th2 = th * th
    thd = th * (1 + th2 * (k[0] + th2 * (k[1] + th2 * (k[2] + th2 * k[3]))))
    s = np.where(r > 1e-12, thd / np.maximum(r, 1e-12), 1.0)
    return a * s, b * s


def _equidistant_undistort(ad: np.ndarray, bd: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of the equidistant model (Newton on theta)."""
    rd = np.hypot(ad, bd)
    th = rd.copy()
    for _ in range(20):
        th2 = th * th
        f = th * (1 + th2 * (k[0] + th2 * (k[1] + th2 * (k[2] + th2 * k[3])))) - rd
        df = 1 + th2 * (3 * k[0] + th2 * (5 * k[1] + th2 * (7 * k[2] + th2 * 9 * k[3])))
        th = th - f / df
    s = np.where(rd > 1e-12, np.tan(th) / np.maximum(rd, 1e-12), 1.0)
    return ad * s, bd * s


def _rot(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


@dataclass
class CameraModel:
    """One raw camera: intrinsics, equidistant distortion, rectification rotation (rectified <- raw), offset of its
    centre in the rig (rectified) frame, and per raw pixel the rectified ray (z = 1) and rectified coordinates."""

    intrinsics: np.ndarray
    distortion: np.ndarray
    R: np.ndarray
    offset: np.ndarray
    P: np.ndarray
    ray: np.ndarray = field(repr=False, default=None)    # (H*W, 3) rectified ray (z = 1) of each raw pixel
    zfac: np.ndarray = field(repr=False, default=None)   # (H*W,) raw-frame z of the unit-z rectified ray
    x_map: np.ndarray = field(repr=False, default=None)
    y_map: np.ndarray = field(repr=False, default=None)


@dataclass
class StereoRig:
    left: CameraModel
    right: CameraModel
    focal: float
    fB: float
    cx: float
    cy: float
    rect_ray: np.ndarray = field(repr=False, default=None)  # (H*W, 3) ray of each rectified pixel centre

    def camera(self, name: str) -> CameraModel:
        return self.left if name == "left" else self.right

    @property
    def baseline(self) -> float:
        return self.fB / self.focal


def make_rig(fB: float = FB_INDOOR, focal: float = FOCAL_RECT, distortion_scale: float = 1.0) -> StereoRig:
    """The synthetic stereo DAVIS346 pair (fixed, scene independent) with its rectification maps."""
    H, W = SIZE
    cams = {}
    # Equidistant coefficients of a near-pinhole lens with a mild barrel distortion: tan(theta) would be
    # theta (1 + theta^2/3 + 2 theta^4/15 + ...), i.e. k = [0.3333, 0.1333, 0.0540, 0.0219]; these fall a little
    # short of it, which moves the corner pixels by about 4-5 px.
    specs = {"left": ([226.97, 226.62, 174.1, 129.4], [0.300, 0.120, 0.050, 0.020], (0.004, -0.006, 0.002)),
             "right": ([225.88, 225.61, 172.6, 133.2], [0.305, 0.116, 0.052, 0.019], (0.003, -0.009, -0.003))}
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    for name, (intr, dist, angles) in specs.items():
        intr = np.array(intr)
        dist = np.array(dist) * distortion_scale
        R = _rot(*angles)
        offset = np.array([fB / focal if name == "right" else 0.0, 0.0, 0.0])
        P = np.array([[focal, 0, CX_RECT, -fB if name == "right" else 0.0], [0, focal, CY_RECT, 0], [0, 0, 1, 0]])
        a, b = _equidistant_undistort((xs - intr[2]) / intr[0], (ys - intr[3]) / intr[1], dist)
        raw_ray = np.stack([a, b, np.ones_like(a)], axis=-1).reshape(-1, 3)
        rr = raw_ray @ R.T
        ray = rr / rr[:, 2:3]
        zfac = ray @ R[:, 2]  # z in the raw frame of the rectified ray (R^T ray)_z
        x_map = (focal * ray[:, 0] + CX_RECT).reshape(H, W)
        y_map = (focal * ray[:, 1] + CY_RECT).reshape(H, W)
        cams[name] = CameraModel(intr, dist, R, offset, P, ray, zfac, x_map, y_map)
    rig = StereoRig(cams["left"], cams["right"], focal, fB, CX_RECT, CY_RECT)
    rect = np.stack([(xs - CX_RECT) / focal, (ys - CY_RECT) / focal, np.ones_like(xs)], axis=-1).reshape(-1, 3)
    rig.rect_ray = rect
    return rig


# -------------------------------------------------------------------------------------------------- scene
@dataclass
class Plane:
    """A textured rectangle: centre, unit normal and in-plane axes (world = rectified left camera frame at t = 0,
    x right, y down, z forward; metres), half sizes along the axes, and its texture (log intensity)."""

    center: np.ndarray
    u_axis: np.ndarray
    v_axis: np.ndarray
    half_size: tuple[float, float]
    texel_m: float = 0.08
    contrast: float = 0.45
    mean: float = 4.4
    seed: int = 0
    sharpness: float = 3.0
    #: > 0: every texel blinks, its contrast times cos(2 pi blink_hz t + its own random phase) (a dynamic
    #: random-dot texture: events without any motion)
    blink_hz: float = 0.0
    grid: np.ndarray = field(repr=False, default=None)
    _lut: tuple = field(repr=False, default=None)
    _phase: tuple = field(repr=False, default=None)

    def __post_init__(self):
        self.center = np.asarray(self.center, dtype=np.float64)
        self.u_axis = np.asarray(self.u_axis, dtype=np.float64) / np.linalg.norm(self.u_axis)
        self.v_axis = np.asarray(self.v_axis, dtype=np.float64) / np.linalg.norm(self.v_axis)
        n = np.cross(self.u_axis, self.v_axis)
        self._normal = n / np.linalg.norm(n)
        if self.grid is None:
            rng = np.random.default_rng(self.seed)
            gw = int(math.ceil(2 * self.half_size[0] / self.texel_m)) + 2
            gh = int(math.ceil(2 * self.half_size[1] / self.texel_m)) + 2
            sign = np.where(rng.random((gh, gw)) < 0.5, -1.0, 1.0)
            self.grid = (self.mean + self.contrast * sign * rng.uniform(0.5, 1.0, (gh, gw))).astype(np.float32)

    @property
    def normal(self) -> np.ndarray:
        return self._normal

    @classmethod
    def fronto(cls, depth: float, x: float = 0.0, y: float = 0.0, half_size=(0.5, 0.4), **kw) -> "Plane":
        """A fronto-parallel rectangle at ``depth`` metres centred on (x, y)."""
        return cls(np.array([x, y, depth]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), tuple(half_size), **kw)

    @classmethod
    def slanted(cls, depth: float, yaw_deg: float, x: float = 0.0, y: float = 0.0, half_size=(0.5, 0.4),
                **kw) -> "Plane":
        """A rectangle turned ``yaw_deg`` about the vertical axis (depth changes along x)."""
        a = math.radians(yaw_deg)
        return cls(np.array([x, y, depth]), np.array([math.cos(a), 0, math.sin(a)]), np.array([0, 1.0, 0]),
                   tuple(half_size), **kw)

    def texture_exact(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Log intensity at in-plane coordinates: sharpened bilinear interpolation of the texel grid (texel centres
        at ``(i + 0.5) * texel_m - half_size``; the transition between two texels takes ``1 / sharpness`` texel)."""
        g = self.grid
        gh, gw = g.shape
        gx = (np.asarray(u, np.float64) + self.half_size[0]) / self.texel_m
        gy = (np.asarray(v, np.float64) + self.half_size[1]) / self.texel_m
        x0 = np.clip(np.floor(gx), 0, gw - 2).astype(np.intp)
        y0 = np.clip(np.floor(gy), 0, gh - 2).astype(np.intp)
        fx = np.clip((gx - x0 - 0.5) * self.sharpness + 0.5, 0.0, 1.0)
        fy = np.clip((gy - y0 - 0.5) * self.sharpness + 0.5, 0.0, 1.0)
        top = g[y0, x0] + (g[y0, x0 + 1] - g[y0, x0]) * fx
        bot = g[y0 + 1, x0] + (g[y0 + 1, x0 + 1] - g[y0 + 1, x0]) * fx
        return (top + (bot - top) * fy).astype(np.float32)

    def _table(self):
        """The texture sampled every ``texel_m / LUT_SAMPLES`` metres (a nearest-sample lookup table)."""
        if self._lut is None:
            step = self.texel_m / LUT_SAMPLES
            nx = int(math.ceil(2 * self.half_size[0] / step)) + 1
            ny = int(math.ceil(2 * self.half_size[1] / step)) + 1
            uu = (np.arange(nx) + 0.5) * step - self.half_size[0]
            vv = (np.arange(ny) + 0.5) * step - self.half_size[1]
            self._lut = (self.texture_exact(uu[None, :], vv[:, None]).reshape(-1), nx, np.float32(1.0 / step))
        return self._lut

    def texture(self, u: np.ndarray, v: np.ndarray, t: float | None = None) -> np.ndarray:
        """Log intensity at in-plane coordinates ``|u| < half_size[0]``, ``|v| < half_size[1]`` (float32), from the
        lookup table (the exact texture up to 1/16 texel); at time ``t`` (s) for a blinking texture."""
        lut, nx, inv = self._table()
        ix = ((u + np.float32(self.half_size[0])) * inv).astype(np.intp)
        iy = ((v + np.float32(self.half_size[1])) * inv).astype(np.intp)
        iy *= nx
        iy += ix
        if not self.blink_hz or t is None:
            return lut[iy]
        if self._phase is None:
            rng = np.random.default_rng(self.seed + 1)
            ph = rng.uniform(0, 2 * np.pi, self.grid.shape).astype(np.float32)
            gh, gw = self.grid.shape
            ny = lut.size // nx
            step = self.texel_m / LUT_SAMPLES
            gx = np.clip(((np.arange(nx) + 0.5) * step / self.texel_m).astype(np.intp), 0, gw - 1)
            gy = np.clip(((np.arange(ny) + 0.5) * step / self.texel_m).astype(np.intp), 0, gh - 1)
            self._phase = (ph[gy[:, None], gx[None, :]].reshape(-1),)
        phase = self._phase[0][iy]
        m = np.float32(self.mean)
        return m + (lut[iy] - m) * np.cos(np.float32(2 * np.pi * self.blink_hz * t) + phase)


def make_scene(rng: np.random.Generator, *, n_planes: int = 4, depth_range=(1.0, 6.0), floor: bool = True,
               floor_height: float = 1.2, texel_m: float = 0.08, contrast: float = 0.45) -> list[Plane]:
    """A random room: ``n_planes`` rectangles (depths stratified over ``depth_range``, half of them slanted), and a
    floor ``floor_height`` metres below the cameras."""
    lo, hi = depth_range
    planes = []
    edges = np.linspace(lo, hi, n_planes + 1)
    for i in range(n_planes):
        z = rng.uniform(edges[i], edges[i + 1])
        half_w = rng.uniform(0.15, 0.3) * z
        half_h = rng.uniform(0.12, 0.25) * z
        x = rng.uniform(-0.45, 0.45) * z * CX_RECT / FOCAL_RECT
        y = rng.uniform(-0.5, 0.25) * z * CY_RECT / FOCAL_RECT
        kw = dict(texel_m=texel_m, contrast=contrast, mean=rng.uniform(4.0, 4.8), seed=int(rng.integers(2**31)))
        if rng.random() < 0.5:
            yaw = rng.choice([-1, 1]) * rng.uniform(20, 50)
            # keep the slanted plane within the depth range
            half_w = min(half_w, 0.9 * min(z - lo, hi - z) / max(math.sin(math.radians(abs(yaw))), 1e-3) + 0.05)
            planes.append(Plane.slanted(z, yaw, x, y, (max(half_w, 0.1), half_h), **kw))
        else:
            planes.append(Plane.fronto(z, x, y, (half_w, half_h), **kw))
    if floor:
        planes.append(Plane(np.array([0.0, floor_height, 7.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]),
                            (5.0, 6.8), texel_m=2 * texel_m, contrast=0.6 * contrast, mean=4.1,
                            seed=int(rng.integers(2**31))))
    return planes


def make_trajectory(rng: np.random.Generator, speed: float = 1.0):
    """A smooth drone-like translation ``c(t)`` (metres, (n, 3)) of the rig: a few sinusoids per axis."""
    amp = np.array([rng.uniform(0.15, 0.25), rng.uniform(0.05, 0.1), rng.uniform(0.03, 0.08)])
    freq = np.array([rng.uniform(0.2, 0.35), rng.uniform(0.35, 0.6), rng.uniform(0.15, 0.3)]) * speed
    phase = rng.uniform(0, 2 * np.pi, 3)

    def c(t):
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        return amp * (np.sin(2 * np.pi * freq * t[:, None] + phase) - np.sin(phase))

    return c


def make_dots_scene(rng: np.random.Generator, *, n_planes: int = 6, depth_range=(1.0, 5.0), texel_px: float = 16.0,
                    contrast: float = 0.45, blink_hz: float = 4.0, focal: float = FOCAL_RECT,
                    far_depth: float = 30.0, dot_density: float = 0.3) -> list[Plane]:
    """A layout that only two eyes can measure: ``n_planes`` fronto-parallel rectangles at independent uniform
    depths in ``depth_range``, in front of a far wall (``far_depth``, beyond the valid ground truth), all covered
    with blinking random dots (:attr:`Plane.blink_hz`). Every size is drawn in *pixels* and scaled by the depth:
    the image position (uniform over the frame), the image size (uniform 40-120 x 30-90 px half sizes) and the
    dots' image size (``texel_px``) do not depend on the depth, there is no floor, and the rig does not move (no
    motion parallax); what is left is the disparity ``fB / Z`` between the two cameras (and the occlusion order
    of overlapping rectangles, which tells only which is nearer)."""
    lo, hi = depth_range
    planes = []
    cx, cy = CX_RECT, CY_RECT
    for i in range(n_planes):
        z = rng.uniform(lo, hi)
        hw_px, hh_px = rng.uniform(60, 150), rng.uniform(45, 110)
        u, v = rng.uniform(0, SIZE[1]), rng.uniform(0, SIZE[0])
        planes.append(Plane.fronto(z, (u - cx) * z / focal, (v - cy) * z / focal, (hw_px * z / focal, hh_px * z / focal),
                                   texel_m=texel_px * z / focal, contrast=contrast, mean=rng.uniform(4.0, 4.8),
                                   seed=int(rng.integers(2**31)), sharpness=6.0, blink_hz=blink_hz))
    half = 1.2 * far_depth * max(cx, SIZE[1] - cx) / focal
    planes.append(Plane.fronto(far_depth, 0.0, 0.0, (half, half), texel_m=texel_px * far_depth / focal,
                               contrast=contrast, mean=4.4, seed=int(rng.integers(2**31)), sharpness=6.0,
                               blink_hz=blink_hz))
    for pl in planes:  # sparse dots: only a fraction of the texels blink (unambiguous left-right matches)
        keep = rng.random(pl.grid.shape) < dot_density
        pl.grid = np.where(keep, pl.grid, pl.mean).astype(np.float32)
    return planes


def _static(t):
    return np.zeros((np.atleast_1d(t).size, 3))


# ------------------------------------------------------------------------------------------------ render
class _Renderer:
    """Ray casts the scene for the rays of one pixel grid (raw pixels of a camera, or rectified pixel centres).

    The rig only translates, so per plane and pixel ``n . ray``, ``u_axis . ray`` and ``v_axis . ray`` are constant
    and a render costs a few vector operations on the pixels the plane can cover (a conservative subset computed
    from the box of camera centres). ``dtype`` float32 for the event renders, float64 for the ground truth."""

    def __init__(self, planes: list[Plane], ray: np.ndarray, centres: np.ndarray, background: float,
                 dtype=np.float32):
        self.planes = planes
        self.dtype = np.dtype(dtype)
        self.background = background
        self.n = ray.shape[0]
        self.pre = []
        lo, hi = centres.min(axis=0), centres.max(axis=0)
        corners_c = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        for pl in planes:
            idx = self._candidates(pl, ray, corners_c)
            nd = ray[idx] @ pl.normal
            ok = np.abs(nd) > 1e-9
            idx, nd = idx[ok], nd[ok]
            dt = self.dtype
            self.pre.append((pl, idx, (1.0 / nd).astype(dt), (ray[idx] @ pl.u_axis).astype(dt),
                             (ray[idx] @ pl.v_axis).astype(dt)))

    @staticmethod
    def _candidates(pl: Plane, ray: np.ndarray, centres: np.ndarray, far: float = 100.0) -> np.ndarray:
        hw, hh = pl.half_size
        corners = np.array([pl.center + su * hw * pl.u_axis + sv * hh * pl.v_axis
                            for su in (-1, 1) for sv in (-1, 1)])
        rel = (corners[None, :, :] - centres[:, None, :]).reshape(-1, 3)
        if np.any(rel[:, 2] <= 0.05):
            # the plane reaches behind the cameras (the floor): the pixels whose rays meet it in front, nearer
            # than `far`, from some camera centre
            sd = -(centres - pl.center) @ pl.normal  # lambda * (n . ray) for each centre
            nd = ray @ pl.normal
            sel = np.zeros(ray.shape[0], dtype=bool)
            for v in sd:
                sel |= (nd * v > 0) & (np.abs(nd) * far > abs(v))
            return np.flatnonzero(sel)
        px, py = rel[:, 0] / rel[:, 2], rel[:, 1] / rel[:, 2]
        m = 2.0 / FOCAL_RECT
        sel = ((ray[:, 0] >= px.min() - m) & (ray[:, 0] <= px.max() + m)
               & (ray[:, 1] >= py.min() - m) & (ray[:, 1] <= py.max() + m))
        return np.flatnonzero(sel)

    def render(self, c: np.ndarray, texture: bool = True, t: float | None = None
               ) -> tuple[np.ndarray | None, np.ndarray]:
        """(log intensity or None, z-depth along the ray's z = 1 scale; inf where only background) at centre c."""
        dt = self.dtype
        zbuf = np.full(self.n, np.inf, dtype=dt)
        img = np.full(self.n, self.background, dtype=np.float32) if texture else None
        for pl, idx, inv_nd, ud, vd in self.pre:
            if idx.size == 0:
                continue
            rel = c - pl.center
            lam = inv_nd * dt.type(-(pl.normal @ rel))
            u = ud * lam
            u += dt.type(rel @ pl.u_axis)
            v = vd * lam
            v += dt.type(rel @ pl.v_axis)
            hu, hv = dt.type(pl.half_size[0]), dt.type(pl.half_size[1])
            ok = (lam > 1e-3) & (u > -hu) & (u < hu) & (v > -hv) & (v < hv)
            ok &= lam < zbuf[idx]
            sel = idx[ok]
            zbuf[sel] = lam[ok]
            if texture:
                img[sel] = pl.texture(u[ok].astype(np.float32, copy=False), v[ok].astype(np.float32, copy=False), t)
        return img, zbuf


def _events_step(L_prev, L_new, ref, C, t_prev_us, t_new_us, rng, max_per_step=8):
    """ESIM step: events (pixel, t_us, polarity) of the threshold crossings between two renders; updates ref."""
    diff = L_new - ref
    nz = np.flatnonzero(np.abs(diff) >= C)
    if nz.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int8)
    d = diff[nz]
    n = np.floor(np.abs(d) / C[nz]).astype(np.int64)
    s = np.sign(d).astype(np.float32)
    ref_old = ref[nz]
    ref[nz] = ref_old + s * n * C[nz]
    k = np.minimum(n, max_per_step)
    rep = np.repeat(np.arange(nz.size), k)
    j = np.arange(rep.size) - np.repeat(np.cumsum(k) - k, k) + 1
    pix = nz[rep]
    level = ref_old[rep] + s[rep] * j * C[pix]  # the j-th level crossed
    denom = (L_new[pix] - L_prev[pix]).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(np.abs(denom) > 1e-9, (level - L_prev[pix]) / denom, rng.random(pix.size))
    frac = np.clip(frac, 0.0, 1.0)
    t = t_prev_us + np.floor(frac * (t_new_us - t_prev_us)).astype(np.int64)
    t = np.minimum(t, t_new_us - 1) if t_new_us > t_prev_us else t
    return pix, t, (s[rep] > 0).astype(np.int8)


def _hole_mask(rng, depth: np.ndarray, max_valid: float, row_drop: float, n_holes: float) -> np.ndarray:
    """True where the lidar-like ground truth has no depth."""
    H, W = depth.shape
    mask = ~np.isfinite(depth) | (depth > max_valid) | (depth <= 0)
    mask[rng.random(H) < row_drop, :] = True
    for _ in range(rng.poisson(n_holes)):
        h, w = rng.integers(6, 28, 2)
        r, c = rng.integers(0, H - h), rng.integers(0, W - w)
        mask[r:r + h, c:c + w] = True
    return mask


def _timestamps(rng, duration_s: float, period: float, offset: float, jitter: float) -> np.ndarray:
    n = int(math.floor((duration_s - offset) / period)) + 1
    t = offset + period * np.arange(max(n, 0)) + rng.uniform(-jitter, jitter, max(n, 0))
    return t[(t > 0) & (t < duration_s)]


# ----------------------------------------------------------------------------------------------- writing
def _fmt_list(values) -> str:
    return "[" + ", ".join(f"{float(v):.10g}" for v in values) + "]"


def _camchain_yaml(rig: StereoRig, scene: str) -> str:
    lines = [f"# synthetic MVSEC calibration ({scene}), written by evsnn.tasks.depth.synth"]
    for key, name in (("cam0", "left"), ("cam1", "right")):
        cam = rig.camera(name)
        lines += [f"{key}:",
                  "  T_cam_imu:"] + [f"  - {_fmt_list(r)}" for r in np.eye(4)] + [
                  "  cam_overlaps: [1]" if key == "cam0" else "  cam_overlaps: [0]",
                  "  camera_model: pinhole",
                  f"  distortion_coeffs: {_fmt_list(cam.distortion)}",
                  "  distortion_model: equidistant",
                  f"  intrinsics: {_fmt_list(cam.intrinsics)}",
                  "  projection_matrix:"] + [f"  - {_fmt_list(r)}" for r in cam.P] + [
                  "  rectification_matrix:"] + [f"  - {_fmt_list(r)}" for r in cam.R] + [
                  f"  resolution: [{SIZE[1]}, {SIZE[0]}]",
                  f"  rostopic: /davis/{name}/image_raw"]
        if key == "cam1":
            T = np.eye(4)
            T[:3, :3] = rig.right.R.T @ rig.left.R
            T[:3, 3] = -rig.right.R.T @ rig.right.offset
            lines += ["  T_cn_cnm1:"] + [f"  - {_fmt_list(r)}" for r in T]
    return "\n".join(lines) + "\n"


def _write_calibration(folder: Path, rig: StereoRig, scene: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    names = calib_file_names(scene)
    (folder / names[0]).write_text(_camchain_yaml(rig, scene))
    for name, cam, ax in zip(names[1:], ("left", "left", "right", "right"), "xyxy"):
        m = rig.camera(cam).x_map if ax == "x" else rig.camera(cam).y_map
        row = " ".join(["%.6f"] * m.shape[1])
        (folder / name).write_text("\n".join(row % tuple(r) for r in m.tolist()) + "\n")


def _seq_seed(seed: int, sequence: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(sequence.encode())) % 2**63


def _render_sequence(sequence: str, rig: StereoRig, *, seed: int, duration_s: float, step_s: float,
                     n_planes: int, depth_range, floor: bool, texel_m: float, contrast: float,
                     contrast_threshold: float, noise_rate: float, speed: float, max_valid_depth: float,
                     right_depth: bool, images: bool, row_drop: float, n_holes: float, planes=None,
                     trajectory=None, scene_kind: str = "room", layout_s: float = 0.25, texel_px: float = 16.0,
                     blink_hz: float = 4.0) -> dict:
    rng = np.random.default_rng(_seq_seed(seed, sequence))
    dur_us = int(round(duration_s * 1e6))
    if planes is not None:
        segments = [(0, planes)]
    elif scene_kind == "dots":  # layouts: drawn below, once the depth timestamps are known
        segments = None
    else:
        segments = [(0, make_scene(rng, n_planes=n_planes, depth_range=depth_range, floor=floor, texel_m=texel_m,
                                   contrast=contrast))]
    if trajectory is not None:
        traj = trajectory
    elif scene_kind == "dots":
        traj = _static
    else:
        traj = make_trajectory(rng, speed)
    H, W = SIZE
    image_ts = _timestamps(rng, duration_s, IMAGE_PERIOD_S, 0.0161, 3e-4)
    depth_ts = _timestamps(rng, duration_s, DEPTH_PERIOD_S, 0.0373, 3e-4)
    for i in range(depth_ts.size):  # never (almost) on an image timestamp
        while image_ts.size and np.min(np.abs(image_ts - depth_ts[i])) < 2e-3:
            depth_ts[i] += 2.5e-3
    depth_ts = depth_ts[depth_ts < duration_s]
    image_us = np.rint(image_ts * 1e6).astype(np.int64)
    depth_us = np.rint(depth_ts * 1e6).astype(np.int64)
    if segments is None:
        # a new layout every layout_s seconds (rounded to whole depth periods), switched at the timestamp of the
        # last depth map of the previous layout: every depth map's label and the events before it (its window,
        # up to one depth period) see the same layout; the switch itself emits no events (see the ESIM loop)
        every = max(1, int(round(layout_s / DEPTH_PERIOD_S)))
        starts = [0] + [int(depth_us[k - 1]) for k in range(every, depth_us.size, every)]
        segments = [(t, make_dots_scene(rng, n_planes=n_planes, depth_range=depth_range, texel_px=texel_px,
                                        contrast=contrast, blink_hz=blink_hz, focal=rig.focal)) for t in starts]
    scene = segments[0][1]
    step_us = max(1, int(round(step_s * 1e6)))
    times = np.unique(np.concatenate([np.arange(0, dur_us, step_us), image_us if images else [], [dur_us]]))
    seg_starts = np.array([t for t, _ in segments])
    times = np.unique(np.concatenate([times, seg_starts[1:]])).astype(np.int64)  # a render at every layout change
    centres_all = traj(times * 1e-6)
    out = {"events": {}, "images": {}, "depth": {}, "depth_raw": {}, "image_us": image_us, "depth_us": depth_us,
           "planes": scene, "segments": segments}
    background = 4.25
    seg_of = np.searchsorted(seg_starts, times, side="right") - 1
    # a depth map shows the layout of the events just before it (a layout that starts at its timestamp is the next's)
    dseg_of = np.searchsorted(seg_starts, depth_us - 1, side="right") - 1
    for cam_name in CAMERAS:
        cam = rig.camera(cam_name)
        centres = centres_all + cam.offset
        rs = [_Renderer(pl, cam.ray, centres, background) for _, pl in segments]
        C = (contrast_threshold * (1 + 0.1 * rng.standard_normal(H * W))).clip(0.5 * contrast_threshold)
        C = C.astype(np.float32)
        L_prev, _ = rs[seg_of[0]].render(centres[0], t=times[0] * 1e-6)
        ref = L_prev.copy()
        pix_l, t_l, p_l = [], [], []
        img_index = {int(t): k for k, t in enumerate(image_us)}
        frames = np.zeros((len(image_us), H, W), dtype=np.uint8) if images else None
        for k in range(1, len(times)):
            L_new, _ = rs[seg_of[k]].render(centres[k], t=times[k] * 1e-6)
            if seg_of[k] != seg_of[k - 1]:
                # a layout change is a cut: the pixels take the new scene as their reference without an event
                # burst (a burst would carry the new layout into the last window of the old one)
                ref[:] = L_new
                pix = np.empty(0, np.int64)
            else:
                pix, t, p = _events_step(L_prev, L_new, ref, C, int(times[k - 1]), int(times[k]), rng)
            if pix.size:
                o = np.argsort(t, kind="stable")
                pix_l.append(pix[o])
                t_l.append(t[o])
                p_l.append(p[o])
            if images and int(times[k]) in img_index:
                frames[img_index[int(times[k])]] = np.clip(np.exp(L_new), 0, 255).astype(np.uint8).reshape(H, W)
            L_prev = L_new
        pix = np.concatenate(pix_l) if pix_l else np.empty(0, np.int64)
        t = np.concatenate(t_l) if t_l else np.empty(0, np.int64)
        p = np.concatenate(p_l) if p_l else np.empty(0, np.int8)
        n_noise = rng.poisson(noise_rate * H * W * duration_s)
        if n_noise:
            pix = np.concatenate([pix, rng.integers(0, H * W, n_noise)])
            t = np.concatenate([t, rng.integers(0, dur_us, n_noise)])
            p = np.concatenate([p, rng.integers(0, 2, n_noise).astype(np.int8)])
            o = np.argsort(t, kind="stable")
            pix, t, p = pix[o], t[o], p[o]
        out["events"][cam_name] = (pix % W, pix // W, t, p)
        out["images"][cam_name] = frames
        # ground truth at the depth timestamps
        if cam_name == "left" or right_depth:
            rects = [_Renderer(pl, rig.rect_ray, centres, background, dtype=np.float64) for _, pl in segments]
            raw_rs = [_Renderer(pl, cam.ray, centres, background, dtype=np.float64) for _, pl in segments]
            cdepth = traj(depth_us * 1e-6) + cam.offset
            maps, raws = [], []
            for c, si in zip(cdepth, dseg_of):
                _, z = rects[si].render(c, texture=False)
                z = z.reshape(H, W)
                mask = _hole_mask(rng, z, max_valid_depth, row_drop, n_holes)
                maps.append(np.where(mask, np.nan, z).astype(np.float32))
                _, zr = raw_rs[si].render(c, texture=False)
                zr = (zr * cam.zfac).reshape(H, W)
                mask = _hole_mask(rng, zr, max_valid_depth, row_drop, n_holes)
                raws.append(np.where(mask, np.nan, zr).astype(np.float32))
            out["depth"][cam_name] = np.stack(maps) if maps else np.zeros((0, H, W), np.float32)
            out["depth_raw"][cam_name] = np.stack(raws) if raws else np.zeros((0, H, W), np.float32)
    return out


def _write_hdf5(data_path: Path, gt_path: Path, rendered: dict, t0_ros: float, compression: str | None) -> dict:
    H, W = SIZE
    comp = {"compression": compression, "shuffle": True} if compression else {}
    if compression == "gzip":
        comp["compression_opts"] = 1
    counts = {}
    with h5py.File(data_path, "w") as h5:
        for cam in CAMERAS:
            x, y, t, p = rendered["events"][cam]
            n = len(t)
            ev = np.empty((n, 4), dtype=np.float64)
            ev[:, 0] = x
            ev[:, 1] = y
            ev[:, 2] = t0_ros + t * 1e-6
            ev[:, 3] = np.where(p > 0, 1.0, -1.0)
            g = h5.create_group(f"davis/{cam}")
            g.create_dataset("events", data=ev, chunks=(max(1, min(n, 8192)), 4) if n else None,
                             **(comp if n else {}))
            g.create_dataset("image_raw_ts", data=t0_ros + rendered["image_us"] * 1e-6)
            g.create_dataset("image_raw_event_inds", data=np.searchsorted(t, rendered["image_us"]).astype(np.int64))
            if rendered["images"][cam] is not None:
                g.create_dataset("image_raw", data=rendered["images"][cam], chunks=(1, H, W), **comp)
            counts[cam] = n
    with h5py.File(gt_path, "w") as h5:
        ts = t0_ros + rendered["depth_us"] * 1e-6
        for cam, maps in rendered["depth"].items():
            g = h5.create_group(f"davis/{cam}")
            for kind, arr in (("rect", maps), ("raw", rendered["depth_raw"][cam])):
                g.create_dataset(f"depth_image_{kind}", data=arr, chunks=(1, H, W) if len(arr) else None,
                                 **(comp if len(arr) else {}))
                g.create_dataset(f"depth_image_{kind}_ts", data=ts)
    return counts


def write_mvsec_tree(root: str | os.PathLike, *, sequences=("indoor_flying1", "indoor_flying2", "indoor_flying3"),
                     seed: int = 0, duration_s: float = 2.0, step_s: float = 0.02, n_planes: int = 4,
                     depth_range=(1.0, 6.0), floor: bool = True, texel_m: float = 0.08, contrast: float = 0.45,
                     contrast_threshold: float = 0.3, noise_rate: float = 0.02, speed: float = 1.0,
                     max_valid_depth: float = 8.0, right_depth: bool = False, images: bool = False,
                     row_drop: float = 0.01, n_holes: float = 2.0, compression: str | None = "gzip",
                     planes=None, trajectory=None, scene: str = "room", baseline_m: float | None = None,
                     layout_s: float = 0.25, texel_px: float = 16.0, blink_hz: float = 4.0) -> dict:
    """Write a synthetic MVSEC tree under ``root``; return a summary (files, events per camera, depth maps,
    the rig's fB, the time origin of each sequence).

    ``planes`` (a list of :class:`Plane`, same for every sequence) and ``trajectory`` (``c(t) -> (n, 3)``) replace
    the random scene and motion (tests: a single plane at a known depth). ``step_s`` is the render step,
    ``contrast_threshold`` the log-intensity threshold, ``noise_rate`` background events per pixel and second,
    ``speed`` scales the rig's motion, ``max_valid_depth`` the farthest depth kept in the ground truth,
    ``row_drop`` / ``n_holes`` the lidar-like holes, ``images`` writes image_raw, ``right_depth`` the right
    camera's depth maps too, ``compression`` the HDF5 filter ("gzip", "lzf" or None).

    ``scene``: ``room`` (the moving rig in a room, above) or ``dots`` (:func:`make_dots_scene`: a static rig,
    a new layout of blinking random-dot rectangles every ``layout_s`` seconds (switched at a depth timestamp and
    without events, so each depth map and the events since the previous one show one layout), dots ``texel_px``
    pixels wide blinking at ``blink_hz``; ``n_planes`` rectangles, ``depth_range`` their depths, ``floor`` and
    ``speed`` unused). ``baseline_m`` replaces the rig's baseline (default MVSEC's fB / f = 8.8 cm); the calibration written
    (cam1 ``projection_matrix[0][3] = -fB``) says so."""
    if scene not in ("room", "dots"):
        raise ValueError(f"synthetic MVSEC scene must be 'room' or 'dots', not {scene!r}")
    scene_kind = scene
    root = Path(root)
    rig = make_rig() if baseline_m is None else make_rig(fB=float(baseline_m) * FOCAL_RECT)
    summary = {"root": str(root), "fB": rig.fB, "focal": rig.focal, "sequences": {}}
    scenes = list(dict.fromkeys(scene_of(s) for s in sequences))
    for scene in scenes:
        _write_calibration(root / scene / f"{scene}_calib", rig, scene)
    for i, seq in enumerate(sequences):
        scene = scene_of(seq)
        folder = root / scene
        folder.mkdir(parents=True, exist_ok=True)
        rendered = _render_sequence(seq, rig, seed=seed, duration_s=duration_s, step_s=step_s, n_planes=n_planes,
                                    depth_range=depth_range, floor=floor, texel_m=texel_m, contrast=contrast,
                                    contrast_threshold=contrast_threshold, noise_rate=noise_rate, speed=speed,
                                    max_valid_depth=max_valid_depth, right_depth=right_depth, images=images,
                                    row_drop=row_drop, n_holes=n_holes, planes=planes, trajectory=trajectory,
                                    scene_kind=scene_kind, layout_s=layout_s, texel_px=texel_px, blink_hz=blink_hz)
        origin = 1_506_117_000 + 1000 * i
        t0_ros = origin + START_FRACTION_US * 1e-6
        counts = _write_hdf5(folder / data_file_name(seq), folder / gt_file_name(seq), rendered, t0_ros,
                             compression)
        summary["sequences"][seq] = {"data": str(folder / data_file_name(seq)), "gt": str(folder / gt_file_name(seq)),
                                     "events": counts, "depth_maps": int(len(rendered["depth_us"])),
                                     "images": int(len(rendered["image_us"])), "origin_s": float(origin),
                                     "start_us": START_FRACTION_US}
    return summary
