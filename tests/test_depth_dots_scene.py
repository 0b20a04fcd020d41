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
