"""A small, learnable, synthetic DHP19 tree in the exact raw layout of the real download.

What is written (reference/FORMATS.md section 2; everything synthetic)::

    root/DVS_movies/S{s}/session{k}/mov{m}.aedat   AEDAT 2.0 (jAER, Davis346blue), the 4 cameras multiplexed in one
                                                   file (address bits 3-0 = camera channel), trigger (special)
                                                   events, absolute µs timestamps far from 0
    root/Vicon_data/S{s}_{k}_{m}.mat               MATLAB v5, struct XYZPOS with the 13 joints (N x 3, mm, 100 Hz),
                                                   a few NaN dropouts
    root/P_matrices/P1.npy .. P4.npy, camera_positions.npy

Scene. A 13-joint skeleton (articulated: pelvis, torso, head, shoulders, elbows, hands, hips, knees, feet, with
per-subject size, position and facing) performs one motion pattern per movement (arm raises, arm circles, curls,
knee lifts, squats, jumping jacks, kicks, walking in place, punches; the pattern of movement ``g`` of the 33 is
``g mod 11``) on top of a slight body sway. Four calibrated pinhole cameras stand at the real DHP19 camera
positions (FORMATS 2.2), about 2 m high, looking at the subject; the subject faces cameras 2 and 3 (the front
views). ``P = K [R | -R C]`` with ``K = [[f, 0, cx], [0, -f, H - cy], [0, 0, 1]]`` so that the official convention
``u = uvw0/uvw2``, ``v = H - uvw1/uvw2`` gives (column, row) of the official frames.

Events. The body is a set of thick segments (radius in mm: torso, limbs, head) projected into each camera every
2 ms; the two silhouette edges of every segment (and round caps at head, hands and feet) are sampled densely, and a
DVS event is emitted where an edge sweeps over pixels: Poisson events in proportion to the area the edge sweeps
between two steps, at a random point of that area and a random time in the step, ON on leading and OFF on trailing
edges (10 % flipped). Static edges emit nothing, so frames show the moving limbs, as for a real DVS. The rate is
scaled to ``event_rate`` events per second and camera. Background activity (uniform), one hot pixel (above the
official 1e4 events threshold) and two blinking IR LEDs inside the official IR masks are added, so every official
filter has something to do. A frame pixel (row r, column c) of channel ch is written with the raw address
``x = 345 - c``, ``y = 259 - r`` (the official preprocessing flips both axes back), so the preprocessed frames and
the projected labels agree exactly.

Triggers. A normal recording carries either 3 special events (two consecutive ones at the start of the Vicon
recording, one at its end) or 2 (the consecutive pair at the start), the two common cases of the real data.
Three recordings carry the real pathologies (``pathologies``): one without any special event (its Vicon recording
starts at the first event), one with a single special event at the end (start = stop - n), and one with 720
special events (corrupted: the official code skips it).

The default tree (subjects 1 and 13, sessions 1-2, movements 1-2, 1 s each) is about 4 MB and is written in a few
seconds. Deterministic for a given seed; a recording depends only on (seed, subject, session, movement) and the
settings.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from evsnn.events import CAMERA_EVENT_DTYPE
from evsnn.io.aedat2 import write_aedat2
from evsnn.io.dhp19 import (CAMERA_POSITIONS_MM, CAMERA_TO_CHANNEL, JOINTS, MOVEMENTS_PER_SESSION, N_CAMERAS,
                            US_PER_VICON_SAMPLE, aedat_path, movement_index, vicon_path, write_projection_matrices,
                            write_vicon)

__all__ = ["write_dhp19_tree", "camera_matrices", "skeleton", "PATTERNS", "SUBJECT_CENTRE_MM", "FOCAL_PX",
           "PATHOLOGIES"]

SX, SY = 346, 260
#: where the synthetic subject stands (mm): the middle of the four real camera positions, on the floor
SUBJECT_CENTRE_MM = np.array([0.0, -1270.0, 0.0])
#: the cameras look at this height (mm)
LOOK_AT_HEIGHT_MM = 1000.0
FOCAL_PX = 240.0

PATTERNS = ("arm_raise_right", "arm_raise_left", "arm_circles", "curls", "knee_lift_right", "knee_lift_left",
            "squat", "jumping_jack", "kick_right", "walk_in_place", "punch")
PATHOLOGIES = ("no_special", "single_special", "corrupted")

_J = {name: i for i, name in enumerate(JOINTS)}
# (start, end, radius mm, cap at end); the start/end names "neck", "pelvis", "crown" are virtual points
_SEGMENTS = (
    ("neck", "pelvis", 150.0, False),
    ("shoulderR", "shoulderL", 60.0, False),
    ("hipR", "hipL", 85.0, False),
    ("chin", "crown", 95.0, True),
    ("shoulderR", "elbowR", 50.0, False),
    ("shoulderL", "elbowL", 50.0, False),
    ("elbowR", "handR", 40.0, True),
    ("elbowL", "handL", 40.0, True),
    ("hipR", "kneeR", 75.0, False),
    ("hipL", "kneeL", 75.0, False),
    ("kneeR", "footR", 55.0, True),
    ("kneeL", "footL", 55.0, True),
)
_EDGE_SAMPLES = 14  # samples along each side of a segment
_CAP_ANGLES = np.deg2rad(np.array([-60.0, -30.0, 0.0, 30.0, 60.0]))
_STEP_US = 2000


# --------------------------------------------------------------------------------------------------
# cameras
# --------------------------------------------------------------------------------------------------
def camera_matrices(seed: int = 0, focal: float = FOCAL_PX) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """``({camera: P (3, 4)}, positions (4, 3))`` of four cameras at the real DHP19 positions looking at the
    subject (small random principal-point offsets and roll per camera, fixed by ``seed``)."""
    rng = np.random.default_rng([seed, 7919])
    target = SUBJECT_CENTRE_MM + np.array([0.0, 0.0, LOOK_AT_HEIGHT_MM])
    mats = {}
    for cam in range(1, N_CAMERAS + 1):
        C = CAMERA_POSITIONS_MM[cam - 1]
        fwd = target - C
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        roll = np.deg2rad(rng.uniform(-2, 2))
        right, down = np.cos(roll) * right + np.sin(roll) * down, -np.sin(roll) * right + np.cos(roll) * down
        R = np.stack([right, down, fwd])
        cx = SX / 2 + rng.uniform(-4, 4)
        cy = SY / 2 + rng.uniform(-4, 4)
        K = np.array([[focal, 0.0, cx], [0.0, -focal, SY - cy], [0.0, 0.0, 1.0]])
        mats[cam] = K @ np.hstack([R, (-R @ C)[:, None]])
    return mats, CAMERA_POSITIONS_MM.copy()


# --------------------------------------------------------------------------------------------------
# skeleton
# --------------------------------------------------------------------------------------------------
def _limb_dir(abd, flex, side):
    """Unit direction of a limb hanging down (0, 0, -1), raised sideways by ``abd`` and forward (-Y) by ``flex``."""
    return np.stack([side * np.sin(abd) * np.cos(flex), -np.sin(flex), -np.cos(abd) * np.cos(flex)], axis=-1)


def _bend(d, towards, angle):
    """Rotate unit vectors ``d`` by ``angle`` towards the direction ``towards`` (its part orthogonal to d)."""
    t = np.broadcast_to(np.asarray(towards, dtype=float), d.shape)
    n = t - (d * t).sum(-1, keepdims=True) * d
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), d.shape)
    alt = up - (d * up).sum(-1, keepdims=True) * d
    n = np.where(norm > 1e-6, n / np.maximum(norm, 1e-12), alt / np.maximum(np.linalg.norm(alt, axis=-1,
                                                                                            keepdims=True), 1e-12))
    a = angle[..., None]
    return np.cos(a) * d + np.sin(a) * n


def _angles(pattern: str, t: np.ndarray, freq: float, phase: float) -> dict:
    """Joint angles (radians) and body offsets (mm) of a motion pattern at times ``t`` (s)."""
    psi = 2 * np.pi * freq * t + phase
    w = (1 - np.cos(psi)) / 2  # 0 -> 1 -> 0 per cycle
    z = np.zeros_like(t)
    deg = np.deg2rad
    a = {"abdR": deg(12) + z, "abdL": deg(12) + z, "flexR": z.copy(), "flexL": z.copy(),
         "elbR": deg(15) + z, "elbL": deg(15) + z, "hipAbdR": deg(5) + z, "hipAbdL": deg(5) + z,
         "hipFlexR": z.copy(), "hipFlexL": z.copy(), "kneeR": deg(5) + z, "kneeL": deg(5) + z,
         "drop": z.copy(), "lean": z.copy()}
    if pattern == "arm_raise_right":
        a["abdR"] = deg(12 + 140 * w)
    elif pattern == "arm_raise_left":
        a["abdL"] = deg(12 + 140 * w)
    elif pattern == "arm_circles":
        a["abdR"] = a["abdL"] = deg(85 + 25 * np.sin(psi))
        a["flexR"] = a["flexL"] = deg(25 * np.cos(psi))
        a["elbR"] = a["elbL"] = deg(5) + z
    elif pattern == "curls":
        a["flexR"] = a["flexL"] = deg(15) + z
        a["elbR"] = deg(10 + 125 * w)
        a["elbL"] = deg(10 + 125 * (1 - w))
    elif pattern == "knee_lift_right":
        a["hipFlexR"] = deg(85 * w)
        a["kneeR"] = deg(5 + 95 * w)
    elif pattern == "knee_lift_left":
        a["hipFlexL"] = deg(85 * w)
        a["kneeL"] = deg(5 + 95 * w)
    elif pattern == "squat":
        a["hipFlexR"] = a["hipFlexL"] = deg(75 * w)
        a["kneeR"] = a["kneeL"] = deg(5 + 105 * w)
        a["drop"] = 300 * w
        a["lean"] = deg(30 * w)
        a["flexR"] = a["flexL"] = deg(80 * w)
    elif pattern == "jumping_jack":
        a["abdR"] = a["abdL"] = deg(15 + 145 * w)
        a["hipAbdR"] = a["hipAbdL"] = deg(5 + 15 * w)
        a["drop"] = -50 * np.abs(np.sin(psi))
    elif pattern == "kick_right":
        a["hipFlexR"] = deg(70 * w)
        a["kneeR"] = deg(5 + 25 * (1 - w))
        a["abdR"] = a["abdL"] = deg(25 + 10 * w)
    elif pattern == "walk_in_place":
        s = np.sin(psi)
        a["hipFlexR"] = deg(45 * np.maximum(s, 0))
        a["kneeR"] = deg(5 + 70 * np.maximum(s, 0))
        a["hipFlexL"] = deg(45 * np.maximum(-s, 0))
        a["kneeL"] = deg(5 + 70 * np.maximum(-s, 0))
        a["flexR"] = deg(30 * -s)
        a["flexL"] = deg(30 * s)
    elif pattern == "punch":
        a["flexR"] = deg(85 * w)
        a["elbR"] = deg(10 + 100 * (1 - w))
        a["flexL"] = deg(85 * (1 - w))
        a["elbL"] = deg(10 + 100 * w)
    else:
        raise ValueError(f"unknown motion pattern {pattern!r}; known: {PATTERNS}")
    return a


def skeleton(t: np.ndarray, pattern: str, *, scale: float = 1.0, position=(0.0, 0.0), yaw_deg: float = 0.0,
             freq: float = 0.8, phase: float = 0.0, sway_mm: float = 30.0, extra: bool = False):
    """World joint positions (mm) of the synthetic subject at times ``t`` (s): ``(T, 13, 3)`` in :data:`JOINTS`
    order; with ``extra=True`` also the virtual points ``{"neck", "pelvis", "chin", "crown"}`` (each (T, 3)).

    Body frame: Z up, the subject faces -Y (cameras 2 and 3), so its right side is at -X; ``yaw_deg`` turns it
    about the vertical axis, ``position`` shifts it (mm) from :data:`SUBJECT_CENTRE_MM`.
    """
    t = np.asarray(t, dtype=np.float64)
    a = _angles(pattern, t, freq, phase)
    s = scale
    T = t.size
    sway = sway_mm * np.stack([np.sin(2 * np.pi * 0.37 * t + phase), 0.5 * np.sin(2 * np.pi * 0.23 * t),
                               0.3 * np.sin(2 * np.pi * 0.5 * t)], axis=-1)
    pelvis = np.zeros((T, 3))
    pelvis[:, 2] = 950 * s - a["drop"]
    pelvis += sway
    torso = np.stack([np.zeros(T), -np.sin(a["lean"]), np.cos(a["lean"])], axis=-1)
    neck = pelvis + 500 * s * torso
    chin = neck + 90 * s * torso
    crown = neck + 300 * s * torso
    head = neck + 200 * s * torso
    out = np.empty((T, 13, 3))
    out[:, _J["head"]] = head
    x = np.array([1.0, 0.0, 0.0])
    forward = np.array([0.0, -1.0, 0.0])
    backward = -forward
    for side_name, side in (("R", -1.0), ("L", 1.0)):
        sh = neck + side * 190 * s * x
        hip = pelvis + side * 100 * s * x
        d_up = _limb_dir(a["abd" + side_name], a["flex" + side_name], side)
        elbow = sh + 300 * s * d_up
        d_fore = _bend(d_up, forward, a["elb" + side_name])
        hand = elbow + 280 * s * d_fore
        d_thigh = _limb_dir(a["hipAbd" + side_name], a["hipFlex" + side_name], side)
        knee = hip + 450 * s * d_thigh
        d_shin = _bend(d_thigh, backward, a["knee" + side_name])
        foot = knee + 430 * s * d_shin
        for name, p in (("shoulder", sh), ("elbow", elbow), ("hand", hand), ("hip", hip), ("knee", knee),
                        ("foot", foot)):
            out[:, _J[name + side_name]] = p
    yaw = np.deg2rad(yaw_deg)
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    shift = SUBJECT_CENTRE_MM + np.array([position[0], position[1], 0.0])

    def place(p):
        return p @ Rz.T + shift

    out = place(out)
    if not extra:
        return out
    return out, {"neck": place(neck), "pelvis": place(pelvis), "chin": place(chin), "crown": place(crown)}


# --------------------------------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------------------------------
def _project_cr(P, X):
    """(column, row, depth) of world points ``X (..., 3)`` in the official frame orientation."""
    uvw = X @ P[:, :3].T + P[:, 3]
    return uvw[..., 0] / uvw[..., 2], SY - uvw[..., 1] / uvw[..., 2], uvw[..., 2]


def _edge_groups(P, joints, virt, focal):
    """Silhouette edge samples, one group per segment side or cap: ``[(pos (T, S, 2), normal (T, S, 2),
    length (T, S))]`` in pixels -- positions, outward unit normals and the edge length each sample stands for."""
    def point(name):
        return virt[name] if name in virt else joints[:, _J[name]]

    groups = []
    s = (np.arange(_EDGE_SAMPLES) + 0.5) / _EDGE_SAMPLES
    cos_c, sin_c = np.cos(_CAP_ANGLES)[None, :, None], np.sin(_CAP_ANGLES)[None, :, None]
    for a_name, b_name, radius, cap in _SEGMENTS:
        ca, ra, za = _project_cr(P, point(a_name))
        cb, rb, zb = _project_cr(P, point(b_name))
        A = np.stack([ca, ra], -1)
        B = np.stack([cb, rb], -1)
        d = B - A
        L = np.linalg.norm(d, axis=-1)
        dh = d / np.maximum(L, 1e-9)[:, None]
        n = np.stack([-dh[:, 1], dh[:, 0]], -1)
        r = focal * radius / (0.5 * (za + zb))
        mid = A[:, None, :] + s[None, :, None] * d[:, None, :]  # (T, S, 2)
        off = r[:, None, None] * n[:, None, :]
        length = np.broadcast_to((L / _EDGE_SAMPLES)[:, None], mid.shape[:2])
        for sign in (1.0, -1.0):
            groups.append((mid + sign * off, np.broadcast_to(sign * n[:, None, :], mid.shape), length))
        caps = [(B, dh)] if cap else []
        if cap and a_name == "chin":  # the head is round at both ends
            caps.append((A, -dh))
        for centre, axis in caps:
            radial = cos_c * axis[:, None, :] + sin_c * np.stack([-axis[:, 1], axis[:, 0]], -1)[:, None, :]
            groups.append((centre[:, None, :] + r[:, None, None] * radial, radial,
                           np.broadcast_to((r * (np.pi / len(_CAP_ANGLES)))[:, None], radial.shape[:2])))
    return groups


def _body_events(rng, P, joints, virt, t_steps, focal, n_target):
    """Events of the moving silhouette edges in one camera: (column, row, t, p) arrays, about ``n_target`` of them.

    The expected number of events of an edge sample between two steps is proportional to the area it sweeps
    (normal displacement x edge length); ``Poisson(n_target)`` events are distributed accordingly.
    """
    groups = _edge_groups(P, joints, virt, focal)
    lam, moves = [], []
    for pos, nrm, length in groups:
        d = pos[1:] - pos[:-1]
        m = d[..., 0] * nrm[:-1, :, 0] + d[..., 1] * nrm[:-1, :, 1]  # normal displacement (px), (T-1, S)
        moves.append(m)
        lam.append((np.abs(m) * length[:-1]).ravel())
    sizes = np.array([a.size for a in lam])
    cum = np.cumsum(np.concatenate(lam))
    if cum.size == 0 or cum[-1] <= 0 or n_target <= 0:
        return (np.empty(0),) * 4
    n = int(rng.poisson(n_target))
    flat = np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1], side="right"), cum.size - 1)
    which = np.searchsorted(np.cumsum(sizes), flat, side="right")
    local = flat - (np.cumsum(sizes) - sizes)[which]
    col = np.empty(n)
    row = np.empty(n)
    t = np.empty(n, dtype=np.int64)
    pol = np.empty(n, dtype=bool)
    step = int(t_steps[1] - t_steps[0])
    for g in np.unique(which):
        sel = np.flatnonzero(which == g)
        pos, nrm, length = groups[g]
        ti, si = np.divmod(local[sel], pos.shape[1])
        delta = pos[ti + 1, si] - pos[ti, si]
        tangent = np.stack([-nrm[ti, si, 1], nrm[ti, si, 0]], -1)
        along = (rng.random(sel.size) - 0.5) * length[ti, si]
        p = pos[ti, si] + rng.random(sel.size)[:, None] * delta + along[:, None] * tangent
        col[sel], row[sel] = p[:, 0], p[:, 1]
        t[sel] = t_steps[ti] + rng.integers(0, step, sel.size)
        pol[sel] = moves[g][ti, si] > 0
    pol ^= rng.random(n) < 0.1
    return col, row, t, pol


def _pack(col, row, t, p, channel):
    col = np.floor(col).astype(np.int64)
    row = np.floor(row).astype(np.int64)
    ok = (col >= 0) & (col < SX) & (row >= 0) & (row < SY)
    ev = np.empty(int(ok.sum()), dtype=CAMERA_EVENT_DTYPE)
    ev["x"] = SX - 1 - col[ok]
    ev["y"] = SY - 1 - row[ok]
    ev["t"] = np.asarray(t)[ok]
    ev["p"] = np.asarray(p)[ok]
    ev["c"] = channel
    return ev


def _recording(rng, subj, session, movement, mats, *, duration_s, event_rate, noise_rate, pathology, hot_pixel,
               focal):
    """Events, special timestamps and Vicon samples of one recording."""
    n_vicon = int(round(duration_s * 100))
    g = movement_index(session, movement)
    pattern = PATTERNS[g % len(PATTERNS)]
    freq = subj["speed"] * rng.uniform(0.7, 1.1)
    phase = rng.uniform(0, 2 * np.pi)
    yaw = subj["yaw"] + rng.uniform(-8, 8)
    pre = 0 if pathology == "no_special" else int(rng.integers(150_000, 300_000))
    post = int(rng.integers(150_000, 300_000))
    t_vicon0 = int(rng.integers(50_000_000, 1_500_000_000))
    span = n_vicon * US_PER_VICON_SAMPLE
    t_first, t_last = t_vicon0 - pre, t_vicon0 + span + post
    kw = dict(scale=subj["scale"], position=subj["position"], yaw_deg=yaw, freq=freq, phase=phase)

    # Vicon: sample i (0-based) at t_vicon0 + i * 10 ms, NaN dropouts
    tv = (np.arange(n_vicon) * US_PER_VICON_SAMPLE) * 1e-6
    vicon = skeleton(tv, pattern, **kw).transpose(0, 2, 1).copy()  # (N, 3, 13)
    for _ in range(int(rng.integers(1, 4))):
        j = int(rng.integers(0, 13))
        i0 = int(rng.integers(0, max(1, n_vicon - 8)))
        vicon[i0:i0 + int(rng.integers(2, 8)), :, j] = np.nan

    t_steps = np.arange(t_first, t_last + _STEP_US, _STEP_US, dtype=np.int64)
    joints, virt = skeleton((t_steps - t_vicon0) * 1e-6, pattern, extra=True, **kw)
    dur = (t_last - t_first) * 1e-6
    parts = []
    for cam in range(1, N_CAMERAS + 1):
        ch = CAMERA_TO_CHANNEL[cam]
        col, row, t, p = _body_events(rng, mats[cam], joints, virt, t_steps, focal,
                                      int(event_rate * dur * rng.uniform(0.85, 1.15)))
        parts.append(_pack(col, row, t, p, ch))
        nn = int(rng.poisson(noise_rate * dur))
        parts.append(_pack(rng.uniform(0, SX, nn), rng.uniform(0, SY, nn), rng.integers(t_first, t_last, nn),
                           rng.integers(0, 2, nn), ch))
    # blinking IR LEDs inside the two official masks (combined image X in (780, 810) x Y in (115, 145) -> channel 2,
    # X in (1252, 1259) x Y in (136, 144) -> channel 3): 3x3 blobs, 500 Hz bursts
    for ch, (c0, r0) in ((2, (95, 129)), (3, (216, 139))):
        n_led = int(1500 * dur)
        parts.append(_pack(c0 + rng.integers(0, 3, n_led) + 0.5, r0 + rng.integers(0, 3, n_led) + 0.5,
                           rng.integers(t_first, t_last, n_led), rng.integers(0, 2, n_led), ch))
    if hot_pixel:
        ch = int(rng.integers(0, 4))
        n_hot = 11_000  # above the official 1e4 threshold within the labelled window
        parts.append(_pack(np.full(n_hot, rng.integers(10, SX - 10) + 0.5), np.full(n_hot, rng.integers(10, SY - 10)
                                                                                      + 0.5),
                           rng.integers(t_vicon0 + 1, t_vicon0 + span, n_hot), rng.integers(0, 2, n_hot), ch))
    ev = np.concatenate(parts)
    ev = ev[np.argsort(ev["t"], kind="stable")]

    t_stop = t_vicon0 + span
    if pathology == "no_special":
        specials = np.empty(0, dtype=np.int64)
        # the official rule takes the first event as the start: make it the Vicon start
        ev["t"][0] = t_vicon0
    elif pathology == "single_special":
        specials = np.array([t_stop])
    elif pathology == "corrupted":
        specials = np.sort(rng.integers(t_first, t_last, 720))
    elif rng.random() < 0.5:
        specials = np.array([t_vicon0, t_vicon0 + 1, t_stop])
    else:
        specials = np.array([t_vicon0, t_vicon0 + 1])
    return ev, specials, vicon, {"pattern": pattern, "vicon_start_us": t_vicon0, "vicon_samples": n_vicon}


def write_dhp19_tree(root: str | os.PathLike, *, subjects=(1, 13), sessions=(1, 2), movements=(1, 2),
                     duration_s: float = 1.0, seed: int = 0, event_rate: float = 10_000.0, noise_rate: float = 400.0,
                     pathologies: dict | None = None, hot_pixel: bool = True, focal: float = FOCAL_PX) -> dict:
    """Write a synthetic DHP19 tree under ``root`` (created if needed); deterministic for a given seed.

    Parameters
    ----------
    subjects: subject numbers (the real split: 1-12 train, 13-17 test).
    sessions: session numbers 1..5; movements: movement numbers written in every session (those beyond the
        session's count, 8/6/6/6/7, are skipped).
    duration_s: length of the Vicon recording (100 Hz); the events start 0.15-0.3 s before and end 0.15-0.3 s
        after it.
    event_rate: body events per second and camera (background noise, IR LEDs and the hot pixel come on top);
        noise_rate: background-activity events per second and camera.
    pathologies: ``{"no_special" | "single_special" | "corrupted": (subject, session, movement)}``; default: the
        last recording gets "corrupted", the one before it "single_special", and the last recording of the first
        subject "no_special" (only those that exist; a tree of fewer than 3 recordings gets fewer). ``{}`` for none.
    hot_pixel: add one hot pixel (11,000 events) per recording.
    focal: focal length of the four cameras (px).

    Returns a summary: ``root``, ``recordings`` (one dict per recording: key, files, events, specials, pattern,
    pathology), ``events``, ``bytes``, ``pathologies``, ``seed``.
    """
    root = Path(root)
    keys = [(s, k, m) for s in subjects for k in sessions for m in movements if m <= MOVEMENTS_PER_SESSION[k]]
    if not keys:
        raise ValueError("no recording to write: check subjects, sessions and movements")
    if pathologies is None:
        pathologies = {}
        first_subject_keys = [key for key in keys if key[0] == keys[0][0]]
        if len(keys) >= 1:
            pathologies["corrupted"] = keys[-1]
        if len(keys) >= 2:
            pathologies["single_special"] = keys[-2]
        if len(keys) >= 3 and first_subject_keys[-1] not in pathologies.values():
            pathologies["no_special"] = first_subject_keys[-1]
    for name, key in pathologies.items():
        if name not in PATHOLOGIES:
            raise ValueError(f"unknown pathology {name!r}; known: {PATHOLOGIES}")
        if tuple(key) not in keys:
            raise ValueError(f"pathology {name!r} is assigned to {tuple(key)}, which is not in the tree")
    by_key = {tuple(v): k for k, v in pathologies.items()}
    mats, positions = camera_matrices(seed, focal)
    write_projection_matrices(root / "P_matrices", mats, positions)
    summary = {"root": str(root), "recordings": [], "events": 0, "bytes": 0, "seed": seed,
               "pathologies": {k: tuple(v) for k, v in pathologies.items()}}
    subj_params = {}
    for s in subjects:
        r = np.random.default_rng([seed, s, 101])
        subj_params[s] = {"scale": r.uniform(0.92, 1.08), "position": tuple(r.uniform(-120, 120, 2)),
                          "yaw": r.uniform(-12, 12), "speed": r.uniform(0.85, 1.2)}
    for key in keys:
        s, k, m = key
        rng = np.random.default_rng([seed, s, k, m])
        patho = by_key.get(key)
        ev, specials, vicon, info = _recording(rng, subj_params[s], k, m, mats, duration_s=duration_s,
                                               event_rate=event_rate, noise_rate=noise_rate, pathology=patho,
                                               hot_pixel=hot_pixel, focal=focal)
        a = write_aedat2(aedat_path(root, s, k, m), ev, layout="davis346", special_timestamps=specials,
                         created="Thu Jan 01 00:00:00 UTC 2019")
        v = write_vicon(vicon_path(root, s, k, m), vicon)
        nbytes = a.stat().st_size + v.stat().st_size
        summary["recordings"].append({"key": key, "aedat": str(a), "vicon": str(v), "events": int(len(ev)),
                                      "specials": int(len(specials)), "pathology": patho, **info})
        summary["events"] += int(len(ev))
        summary["bytes"] += nbytes
    return summary
