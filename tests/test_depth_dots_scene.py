"""The synthetic 'dots' MVSEC scene: depth told only by the disparity between the two cameras."""
from __future__ import annotations

import numpy as np

from evsnn.tasks.depth.synth import FOCAL_RECT, make_dots_scene, write_mvsec_tree


def test_dots_scene_sizes_do_not_depend_on_depth():
    rng = np.random.default_rng(0)
    for _ in range(20):
        planes = make_dots_scene(rng, n_planes=3, depth_range=(1.0, 4.0), texel_px=32)
        for pl in planes[:-1]:
            z = pl.center[2]
            assert 1.0 <= z <= 4.0
            # image sizes in pixels: the world sizes scale with depth
            assert 60 <= pl.half_size[0] * FOCAL_RECT / z <= 150 and 45 <= pl.half_size[1] * FOCAL_RECT / z <= 110
            assert abs(pl.texel_m * FOCAL_RECT / z - 32) < 1e-9 and pl.blink_hz > 0
        assert planes[-1].center[2] == 30.0   # the far wall, beyond the valid ground truth


def test_dots_tree_has_the_requested_baseline_and_disparity(tmp_path):
    s = write_mvsec_tree(tmp_path, sequences=("indoor_flying1",), scene="dots", baseline_m=0.3, duration_s=0.3,
                         n_planes=2, depth_range=(1.0, 4.0), texel_px=32, blink_hz=8.0, contrast=0.6)
    assert abs(s["fB"] - 0.3 * FOCAL_RECT) < 1e-9
    calib = (tmp_path / "indoor_flying/indoor_flying_calib/camchain-imucam-indoor_flying.yaml").read_text()
    assert f"{-0.3 * FOCAL_RECT:.10g}" in calib        # cam1 projection_matrix[0][3] = -fB
    seq = s["sequences"]["indoor_flying1"]
    assert seq["events"]["left"] > 1000 and seq["events"]["right"] > 1000 and seq["depth_maps"] >= 5


def test_dots_layouts_switch_between_depth_windows_without_an_event_burst():
    """Every depth map's label shows the layout whose events fill the window before it (the events since the
    previous depth map), and a layout change emits no burst of events (which would fall in a window)."""
    from evsnn.tasks.depth.synth import _render_sequence, make_rig

    rig = make_rig(fB=0.3 * FOCAL_RECT)
    out = _render_sequence("indoor_flying1", rig, seed=3, duration_s=0.6, step_s=0.02, n_planes=2,
                           depth_range=(1.0, 4.0), floor=False, texel_m=0.08, contrast=0.45, contrast_threshold=0.3,
                           noise_rate=0.0, speed=1.0, max_valid_depth=8.0, right_depth=False, images=False,
                           row_drop=0.0, n_holes=0.0, scene_kind="dots", layout_s=0.05, texel_px=32, blink_hz=8.0)
    starts = np.array([t for t, _ in out["segments"]])
    depth_us = out["depth_us"]
    assert len(starts) == len(depth_us) >= 10          # layout_s = one depth period: a layout per depth map
    label_seg = np.searchsorted(starts, depth_us - 1, side="right") - 1
    assert list(label_seg) == list(range(len(depth_us)))
    for cam in ("left", "right"):
        t = out["events"][cam][2]
        seg = np.searchsorted(starts, t, side="right") - 1
        for k in range(1, len(depth_us)):
            inside = (t >= depth_us[k - 1]) & (t < depth_us[k])
            assert inside.sum() > 100 and (seg[inside] == label_seg[k]).all()
        # no burst at a switch: the events of the 5 ms after each switch are no more than 3x the mean rate
        rate = len(t) / 0.6e6
        for s in starts[1:]:
            assert ((t >= s) & (t < s + 5000)).sum() < 3 * rate * 5000
    # the label of each map is the depth of its own layout's planes
    for k, maps in enumerate(out["depth"]["left"]):
        zs = [pl.center[2] for pl in out["segments"][label_seg[k]][1][:-1]]
        vals = np.unique(np.round(maps[np.isfinite(maps)], 3))
        assert all(min(abs(v - z) for z in zs) < 1e-3 for v in vals)
