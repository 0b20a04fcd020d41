"""Pose evaluation: heatmap peaks, 2D/3D MPJPE, triangulation (DLT and the DHP19 notebook's rays), pose metrics,
the mean-pose baseline, pose figures."""
import numpy as np
import pytest

from evsnn.tasks.pose import preprocess as dp
from evsnn.tasks.pose import pose3d as p3
from evsnn.io.dhp19 import CAMERA_POSITIONS_MM, JOINTS
from evsnn.tasks.pose.synth import camera_matrices, skeleton

H, W = 260, 344


@pytest.fixture(scope="module")
def cams():
    mats, pos = camera_matrices(seed=3)
    return mats, pos


@pytest.fixture(scope="module")
def poses():
    t = np.linspace(0.0, 1.5, 40)
    return np.concatenate([skeleton(t, "jumping_jack"), skeleton(t, "kick_right", yaw_deg=10, position=(80, -60))])


def _hand_camera(C, target, f=300.0, cx=170.0, cy=128.0):
    """A pinhole camera at C looking at target with the DHP19 K (v flipped by the second row)."""
    fwd = target - C
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    K = np.array([[f, 0.0, cx], [0.0, -f, H - cy], [0.0, 0.0, 1.0]])
    return K @ np.hstack([R, (-R @ C)[:, None]])


def _project_with_dp(P, xyz):
    """(J, 2) / (N, J, 2) points through dhp19_preprocess.project (label layout (..., 3, J))."""
    u, v, mask = dp.project(P, np.swapaxes(xyz, -1, -2), H=H, W=W)
    return np.stack([u, v], axis=-1), mask


# --------------------------------------------------------------------------------------------------
# triangulation
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cam_ids", [(2, 3), (1, 2, 3, 4)])
def test_triangulation_recovers_exact_points_synthetic_cameras(cams, poses, cam_ids):
    mats, pos = cams
    Ps = [mats[c] for c in cam_ids]
    uvs = [_project_with_dp(P, poses)[0] for P in Ps]
    assert all(_project_with_dp(P, poses)[1].all() for P in Ps)  # every joint in frame
    dlt = p3.triangulate(Ps, uvs)
    rays = p3.triangulate_rays(Ps, pos[[c - 1 for c in cam_ids]], uvs)
    rays_nullspace = p3.triangulate_rays(Ps, None, uvs)
    assert dlt.shape == rays.shape == poses.shape
    np.testing.assert_allclose(dlt, poses, atol=1e-6, rtol=0)
    np.testing.assert_allclose(rays, poses, atol=1e-6, rtol=0)
    np.testing.assert_allclose(rays_nullspace, poses, atol=1e-6, rtol=0)
    # a single pose (J, 2) -> (J, 3)
    np.testing.assert_allclose(p3.triangulate(Ps, [uv[0] for uv in uvs]), poses[0], atol=1e-6, rtol=0)


def test_triangulation_hand_built_cameras_and_centres():
    target = np.array([0.0, -1270.0, 1000.0])
    centres = np.array([[2231.0, -2487.0, 1954.0], [-2101.0, -2318.0, 2063.0], [200.0, -3500.0, 800.0]])
    Ps = [_hand_camera(C, target) for C in centres]
    for P, C in zip(Ps, centres):
        np.testing.assert_allclose(p3.camera_centre(P), C, atol=1e-8)
    rng = np.random.default_rng(0)
    xyz = target + rng.uniform(-600, 600, size=(7, 13, 3))
    uvs = [_project_with_dp(P, xyz)[0] for P in Ps]
    np.testing.assert_allclose(p3.triangulate(Ps[:2], uvs[:2]), xyz, atol=1e-6, rtol=0)
    np.testing.assert_allclose(p3.triangulate_rays(Ps[:2], centres[:2], uvs[:2]), xyz, atol=1e-6, rtol=0)
    np.testing.assert_allclose(p3.triangulate(Ps, uvs), xyz, atol=1e-6, rtol=0)
    # the v-flip matters: feeding unflipped rows does not reproduce the points
    wrong = [np.stack([uv[..., 0], H - uv[..., 1]], axis=-1) for uv in uvs]
    assert np.abs(p3.triangulate(Ps[:2], wrong[:2]) - xyz).max() > 10


def test_triangulation_masks_nan_and_too_few_views(cams, poses):
    mats, pos = cams
    Ps = [mats[c] for c in (1, 2, 3, 4)]
    uvs = [_project_with_dp(P, poses[:3])[0] for P in Ps]
    uvs[0] = uvs[0] + 50.0  # camera 1 is wrong everywhere ...
    masks = [np.zeros(uvs[0].shape[:-1], bool)] + [np.ones(uvs[0].shape[:-1], bool)] * 3  # ... and masked out
    uvs[1] = uvs[1].copy()
    uvs[1][0, 4] = np.nan  # one NaN view of joint 4: still 2 views left
    uvs[2] = uvs[2].copy()
    uvs[2][1, 5] = np.nan
    uvs[3] = uvs[3].copy()
    uvs[3][1, 5] = np.nan  # joint 5 of sample 1: a single valid view -> NaN
    for xyz in (p3.triangulate(Ps, uvs, masks=masks), p3.triangulate_rays(Ps, pos, uvs, masks=masks)):
        assert np.isnan(xyz[1, 5]).all()
        ok = np.ones(xyz.shape[:2], bool)
        ok[1, 5] = False
        np.testing.assert_allclose(xyz[ok], poses[:3][ok], atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        p3.triangulate(Ps[:1], uvs[:1])


def test_triangulation_noise_behaves(cams, poses):
    mats, pos = cams
    rng = np.random.default_rng(1)
    exact = {c: _project_with_dp(mats[c], poses)[0] for c in (1, 2, 3, 4)}
    errs = {}
    for sigma in (0.5, 2.0):
        noisy = {c: uv + rng.normal(0, sigma, uv.shape) for c, uv in exact.items()}
        front = [noisy[2], noisy[3]]
        dlt = p3.triangulate([mats[2], mats[3]], front)
        rays = p3.triangulate_rays([mats[2], mats[3]], pos[[1, 2]], front)
        four = p3.triangulate([mats[c] for c in (1, 2, 3, 4)], [noisy[c] for c in (1, 2, 3, 4)])
        errs[sigma] = (p3.mpjpe_3d(dlt, poses), p3.mpjpe_3d(rays, poses), p3.mpjpe_3d(four, poses))
        # the two methods agree to a fraction of the error; more views help
        assert abs(errs[sigma][0] - errs[sigma][1]) < 0.25 * errs[sigma][0]
        assert errs[sigma][2] < errs[sigma][0]
    # ~13 mm per pixel at 3.3 m with f = 240 px: errors are small and grow about linearly with the noise
    assert 1 < errs[0.5][0] < 25
    assert 2.5 < errs[2.0][0] / errs[0.5][0] < 6


# --------------------------------------------------------------------------------------------------
# heatmaps and 2D errors
# --------------------------------------------------------------------------------------------------
def test_heatmap_argmax_planted_peaks():
    rng = np.random.default_rng(2)
    hm = rng.random((2, 3, 40, 50)) * 0.5
    peaks = np.array([[[7, 3], [49, 39], [0, 0]], [[25, 20], [11, 30], [44, 1]]])  # (u, v)
    for i in range(2):
        for j in range(3):
            hm[i, j, peaks[i, j, 1], peaks[i, j, 0]] = 1.0 + i + j
    uv, conf = p3.heatmap_argmax(hm)
    assert uv.shape == (2, 3, 2) and conf.shape == (2, 3)
    np.testing.assert_array_equal(uv, peaks)
    np.testing.assert_allclose(conf, 1.0 + np.add.outer(np.arange(2), np.arange(3)))
    # ties: the first maximum in row-major order (the notebook's argwhere(...)[0]); NaN is never the peak
    m = np.zeros((1, 5, 6))
    m[0, 3, 1] = m[0, 2, 4] = 1.0
    m[0, 0, 0] = np.nan
    uv, conf = p3.heatmap_argmax(m)
    np.testing.assert_array_equal(uv[0], [4, 2])
    assert conf[0] == 1.0


def test_heatmap_argmax_on_official_targets_and_subpixel():
    u = np.array([100.7, 20.2, 300.0])
    v = np.array([50.3, 200.9, 10.0])
    hm = dp.heatmaps(u, v, np.ones(3, bool), H=H, W=W)
    uv, conf = p3.heatmap_argmax(hm)
    np.testing.assert_array_equal(uv, np.stack([np.trunc(u), np.trunc(v)], -1))
    np.testing.assert_allclose(conf, 1.0)
    # sub-pixel refinement on analytic Gaussians centred between pixels
    yy, xx = np.mgrid[0:60, 0:80]
    centres = np.array([[30.3, 20.6], [10.8, 40.45]])
    g = np.stack([np.exp(-((xx - cu) ** 2 + (yy - cv) ** 2) / (2 * 3.0**2)) for cu, cv in centres])
    np.testing.assert_allclose(p3.heatmap_argmax(g, subpixel="gaussian")[0], centres, atol=1e-9)
    quad = p3.heatmap_argmax(g, subpixel=True)[0]
    assert np.abs(quad - centres).max() < 0.1
    assert np.abs(p3.heatmap_argmax(g)[0] - centres).max() > 0.3
    quarter = p3.heatmap_argmax(g, subpixel="quarter")[0]
    np.testing.assert_allclose(quarter, np.round(centres) + 0.25 * np.sign(centres - np.round(centres)))
    with pytest.raises(ValueError):
        p3.heatmap_argmax(g, subpixel="bogus")


def test_mpjpe_2d_hand_computed():
    pred = np.array([[[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]],
                     [[10.0, 10.0], [0.0, 0.0], [5.0, 5.0]]])
    gt = np.array([[[0.0, 0.0], [0.0, 0.0], [np.nan, np.nan]],   # sample 0: errors 0, 5, (NaN joint ignored)
                   [[10.0, 16.0], [0.0, 8.0], [5.0, 5.0]]])      # sample 1: errors 6, 8 (masked), 0
    mask = np.array([[True, True, True], [True, False, True]])
    e = p3.mpjpe_2d(pred, gt, mask)
    np.testing.assert_allclose(e.errors, [[0, 5, np.nan], [6, np.nan, 0]])
    np.testing.assert_allclose(e.per_sample, [2.5, 3.0])
    np.testing.assert_allclose(e.per_joint, [3.0, 5.0, 0.0])
    assert e.mean == pytest.approx(2.75) and float(e) == pytest.approx(2.75)
    assert e.mean_over_joints == pytest.approx(11 / 4)
    assert e.n_samples == 2 and e.n_valid == 4
    # a sample without any valid joint is left out of the mean
    e2 = p3.mpjpe_2d(np.zeros((3, 2, 2)), np.concatenate([gt[:, :2], np.full((1, 2, 2), np.nan)]))
    assert np.isnan(e2.per_sample[2]) and np.isfinite(e2.mean)


def test_project_gt_2d_follows_the_notebook():
    P = np.array([[100.0, 0, 50, 0], [0, 100, 40, 0], [0, 0, 1, 0]])
    xyz = np.array([[0.0, 0.0, 1.0], [0.9, 1.77, 10.0], [np.nan, 0, 1], [1000.0, 0, 1]])  # (J, 3)
    uv, mask = p3.project_gt_2d(P, xyz)
    assert mask.tolist() == [True, True, False, False]
    # u = 50, v = 260 - 40 = 220; u = 59, v = 260 - 57.7 = 202.3 -> 202 (int32 truncation)
    np.testing.assert_array_equal(uv[:2], [[50, 220], [59, 202]])
    assert np.isnan(uv[2:]).all()
    # the label layout (3, J) gives the same
    np.testing.assert_array_equal(p3.project_gt_2d(P, xyz.T)[0][:2], uv[:2])
    np.testing.assert_allclose(p3.project_gt_2d(P, xyz, truncate=False)[0][1], [59.0, 202.3])


def test_mpjpe_3d_nan_aware():
    gt = np.zeros((2, 3, 3))
    pred = np.zeros((2, 3, 3))
    pred[0, 0] = [30, 40, 0]       # 50
    pred[0, 1] = [0, 0, 10]        # 10
    gt[0, 2] = np.nan              # ignored
    pred[1, :, 0] = [1.0, 2.0, 3.0]
    assert p3.mpjpe_3d(pred, gt) == pytest.approx((30 + 2) / 2)
    d = p3.mpjpe_3d(pred, gt, details=True)
    np.testing.assert_allclose(d.per_sample, [30, 2])
    np.testing.assert_allclose(d.per_joint, [25.5, 6.0, 3.0])
    # label layout (N, 3, J) for the ground truth
    gt13 = np.zeros((4, 13, 3))
    assert p3.mpjpe_3d(gt13 + [0, 0, 7], np.swapaxes(gt13, 1, 2)) == pytest.approx(7)


# --------------------------------------------------------------------------------------------------
# pose metrics, grouping, baseline
# --------------------------------------------------------------------------------------------------
def test_pose_metrics_perfect_heatmaps(cams, poses):
    mats, pos = cams
    xyz = poses[::8][:8]  # 8 samples
    pred = {}
    for c in (1, 2, 3, 4):
        uv, mask = _project_with_dp(mats[c], xyz)
        pred[c] = dp.heatmaps(uv[..., 0], uv[..., 1], mask, H=H, W=W)
    mov = np.array([1, 1, 1, 2, 2, 2, 3, 3])
    m = p3.pose_metrics(pred, np.swapaxes(xyz, 1, 2), mats, movements=mov, centres=pos)  # label layout
    assert m["n_samples"] == 8 and m["cameras_2d"] == [1, 2, 3, 4]
    for c in (1, 2, 3, 4):
        assert m["mpjpe_2d"][f"cam{c}"] == 0.0  # argmax = truncated projection = the notebook's ground truth
        assert set(m["mpjpe_2d_per_joint"][f"cam{c}"]) == set(JOINTS)
    assert m["mpjpe_2d_mean"] == 0.0
    assert m["triangulation"] == {"cameras": [2, 3], "method": "rays"}
    # integer peaks (pixel corners) triangulate to within a few cm; four views do better
    assert 0 < m["mpjpe_3d"] < 30
    assert m["mpjpe_3d_all_cameras"] < m["mpjpe_3d"]
    bm = m["by_movement"]
    assert bm["group"] == [1, 2, 3] and bm["n"] == [3, 3, 2]
    assert len(bm["mpjpe_3d"]) == 3 and set(bm["mpjpe_2d"]) == {"cam1", "cam2", "cam3", "cam4"}
    # the overall mean is the sample-weighted mean of the movement means
    assert np.dot(bm["n"], bm["mpjpe_3d"]) / 8 == pytest.approx(m["mpjpe_3d"])
    # exact (sub-pixel) points as predictions: zero 3D error by either method
    exact = {c: _project_with_dp(mats[c], xyz)[0] for c in (2, 3)}
    for method in ("rays", "dlt"):
        m2 = p3.pose_metrics(exact, xyz, mats, method=method, gt_truncate=False)
        assert m2["mpjpe_3d"] < 1e-6 and m2["mpjpe_2d"]["cam2"] < 1e-9
        assert "mpjpe_3d_all_cameras" not in m2 and "by_movement" not in m2


def test_pose_metrics_error_vs_steps_since_cnn(cams, poses):
    mats, _ = cams
    rng = np.random.default_rng(4)
    N, T = 5, 4
    xyz = poses[:N * T].reshape(N, T, 13, 3)
    # per-step predictions drift away from the truth: noise grows with the step since the CNN frame
    pred = {}
    for c in (2, 3):
        uv = _project_with_dp(mats[c], xyz)[0]
        pred[c] = uv + rng.normal(0, 1, uv.shape) * (1.0 + 2.0 * np.arange(T))[None, :, None, None]
    steps = np.arange(T)  # broadcast over the N windows
    mov = np.array([1, 1, 2, 2, 2])[:, None]
    m = p3.pose_metrics(pred, xyz, mats, movements=mov, steps_since_cnn=steps, gt_truncate=False,
                        per_sample=True)
    bt = m["by_steps_since_cnn"]
    assert bt["group"] == [0, 1, 2, 3] and bt["n"] == [N] * T
    assert np.all(np.diff(bt["mpjpe_3d"]) > 0) and np.all(np.diff(bt["mpjpe_2d"]["cam2"]) > 0)
    assert m["by_movement"]["n"] == [2 * T, 3 * T]
    ps = m["per_sample"]
    assert ps["mpjpe_3d"].shape == (N, T) and ps["pred_xyz"].shape == (N, T, 13, 3)
    np.testing.assert_allclose(ps["mpjpe_3d"][:, 0].mean(), bt["mpjpe_3d"][0])
    g = p3.group_errors(ps["mpjpe_2d"]["cam3"], steps)
    np.testing.assert_allclose(g["mean"], bt["mpjpe_2d"]["cam3"])


def test_group_errors_hand_computed():
    g = p3.group_errors([1.0, 3.0, np.nan, 10.0, 2.0], ["b", "b", "a", "c", "c"])
    assert g["group"] == ["a", "b", "c"] and g["n"] == [0, 2, 2]
    assert np.isnan(g["mean"][0])
    np.testing.assert_allclose(g["mean"][1:], [2.0, 6.0])
    np.testing.assert_allclose(g["std"][1:], [1.0, 4.0])


def test_mean_pose_baseline(cams, poses):
    mats, pos = cams
    train, test = poses[::2], poses[1::2]
    train = train.copy()
    train[0, 3] = np.nan  # NaN-aware mean
    base = p3.mean_pose_baseline(np.swapaxes(train, 1, 2))  # label layout accepted
    np.testing.assert_allclose(base.xyz, np.nanmean(train, axis=0))
    pred3 = base.predict_3d(len(test))
    assert pred3.shape == test.shape and base(3).shape == (3, 13, 3)
    err_base = p3.mpjpe_3d(pred3, test)
    assert err_base > 50  # the motions move the limbs by tens of cm
    # its 2D projections triangulate back to the mean pose, and pose_metrics takes them directly
    uv = base.predict_2d(mats, len(test))
    assert set(uv) == {1, 2, 3, 4} and uv[2].shape == (len(test), 13, 2)
    np.testing.assert_allclose(p3.triangulate_rays([mats[2], mats[3]], pos[[1, 2]], [uv[2], uv[3]]), pred3,
                               atol=1e-6)
    m_base = p3.pose_metrics(uv, test, mats, centres=pos)
    assert m_base["mpjpe_3d"] == pytest.approx(err_base, rel=1e-6)
    # a (noisy) real predictor beats it in 2D and 3D
    rng = np.random.default_rng(5)
    good = {c: _project_with_dp(mats[c], test)[0] + rng.normal(0, 1.0, uv[c].shape) for c in (2, 3)}
    m_good = p3.pose_metrics(good, test, mats, centres=pos)
    assert m_good["mpjpe_3d"] < 0.5 * m_base["mpjpe_3d"]
    assert m_good["mpjpe_2d"]["cam2"] < 0.5 * m_base["mpjpe_2d"]["cam2"]
    with pytest.raises(ValueError, match="handL"):
        bad = train.copy()
        bad[:, 8] = np.nan
        p3.mean_pose_baseline(bad)


def test_pose_metrics_rejects_bad_inputs(cams, poses):
    mats, _ = cams
    with pytest.raises(ValueError):
        p3.pose_metrics({2: np.zeros((3, 13, 5))}, poses[:3], mats)
    with pytest.raises(ValueError):
        p3.pose_metrics({5: np.zeros((3, 13, 2))}, poses[:3], mats)
    with pytest.raises(ValueError):
        p3.pose_metrics({2: np.zeros((3, 13, 2))}, poses[:3], mats, method="svd")
    # a single camera: 2D only, 3D NaN
    m = p3.pose_metrics({2: np.zeros((3, 13, 2))}, poses[:3], mats)
    assert np.isfinite(m["mpjpe_2d"]["cam2"]) and np.isnan(m["mpjpe_3d"])


# camera centres of the real DHP19 setup, from the official P_matrices/camera_positions.npy (row c - 1 = camera c,
# = P matrix Pc.npy), written out in FORMATS 2.2 ("Channel <-> physical camera <-> P-matrix", from the [DHP]
# notebooks; SensorsINI/DHP19 Eval_2D_triangulation_and_3D_tutorial.ipynb loads the file as cameras_pos). Typed
# here from that table, not imported from evsnn, so that a wrong constant fails.
DHP19_CAMERA_POSITIONS = {1: (2270, -181, 2003), 2: (2231, -2487, 1954), 3: (-2101, -2318, 2063),
                          4: (-2312, -89, 2150)}
# aedat/h5 channel of each camera (FORMATS 2.2; the notebook's ch_idx 1 -> P1, 3 -> P2, 2 -> P3, 0 -> P4)
DHP19_CHANNEL_OF_CAMERA = {1: 1, 2: 3, 3: 2, 4: 0}


def test_camera_positions_are_the_dhp19_ones(cams):
    from evsnn.io.dhp19 import CAMERA_TO_CHANNEL, FRONT_CAMERAS

    for c, centre in DHP19_CAMERA_POSITIONS.items():
        np.testing.assert_array_equal(CAMERA_POSITIONS_MM[c - 1], centre)
        assert CAMERA_TO_CHANNEL[c] == DHP19_CHANNEL_OF_CAMERA[c]
    assert FRONT_CAMERAS == (2, 3)
    # the two front cameras (y < -2000 mm) stand 4.34 m apart
    assert np.linalg.norm(np.subtract(DHP19_CAMERA_POSITIONS[2], DHP19_CAMERA_POSITIONS[3])) == pytest.approx(
        4336.67, abs=0.01)
    # the synthetic P matrices place their cameras there (the centre is the null vector of P)
    mats, pos = cams
    for c, centre in DHP19_CAMERA_POSITIONS.items():
        np.testing.assert_allclose(p3.camera_centre(mats[c]), centre, atol=1e-6)
        np.testing.assert_allclose(pos[c - 1], centre)


# --------------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------------
def _is_png(path):
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        return im.size


def test_pose_figures_are_valid_pngs(tmp_path, cams, poses):
    from evsnn.tasks.pose import plots as pp

    assert len(pp.SKELETON_EDGES) == 14
    assert {j for e in pp.SKELETON_EDGES for j in e} == set(range(13))
    mats, pos = cams
    rng = np.random.default_rng(6)
    xyz = poses[5]
    gt_uv, mask = _project_with_dp(mats[2], xyz)
    pred_uv = gt_uv + rng.normal(0, 3, gt_uv.shape)
    frame = np.zeros((H, W))
    for u, v in gt_uv.astype(int):
        frame[max(v - 6, 0):v + 6, max(u - 3, 0):u + 3] += rng.poisson(3.0, (min(v + 6, H) - max(v - 6, 0),
                                                                             min(u + 3, W) - max(u - 3, 0)))
    paths = {name: tmp_path / f"{name}.png" for name in ("overlay", "crop", "skel3d", "time", "movement",
                                                         "movement2")}
    pp.plot_pose_overlay(frame, pred_uv, gt_uv, paths["overlay"], title="camera 2", mask=mask)
    pp.plot_pose_overlay(frame, pred_uv, gt_uv, paths["crop"], title="camera 2", mask=mask, crop=15)
    pp.plot_skeleton_3d(xyz + rng.normal(0, 40, xyz.shape), xyz, paths["skel3d"], title="sample 5")
    steps = np.tile(np.arange(10), 20)
    errs = 5 + 0.4 * steps + rng.normal(0, 1, steps.shape)
    pp.plot_error_vs_time_since_cnn(steps, {"camera 2": errs, "camera 3": errs + 0.5}, paths["time"],
                                    ylabel="2D MPJPE (px)", step_ms=10, reference={"CNN only": 5.0})
    pp.plot_per_movement({1: rng.random(10) * 10, 2: 7.5, 3: np.array([4.0, 6.0])}, paths["movement"],
                         ylabel="3D MPJPE (mm)", labels={1: "arm raise", 2: "squat", 3: "kick"})
    pp.plot_per_movement({"CNN": {1: 60.0, 2: 70.0}, "hybrid": {1: 65.0, 2: 80.0}}, paths["movement2"],
                         ylabel="3D MPJPE (mm)")
    for p in paths.values():
        w, h = _is_png(p)
        assert w > 200 and h > 150
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporaries
