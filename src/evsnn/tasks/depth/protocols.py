"""StereoSpike's MVSEC protocol (urancon/StereoSpike @6254fec, "SS"): depth-map ranges, its validation / test
items, the 50-ms count frames on its time grid, and its ground-truth hole filling (area closing).

Facts (read in SS, not copied):

- Ranges (SS ``datasets/MVSEC/indices.py:4-18``, ``SEQUENCES_FRAMES``): per split and sequence a slice
  ``[start, stop)`` of the left rectified depth maps; split 1: indoor_flying1 [139, 1201) (validation + test),
  indoor_flying2 [159, 1581), indoor_flying3 [124, 1816) (training); split 3: indoor_flying1 [79, 1261),
  indoor_flying2 [119, 1581) (training), indoor_flying3 [72, 1816) (validation + test).
- Items (SS ``mvsec_dataset.py:196-232`` with one warm-up and one training chunk, SS train.py:92-94): item ``i`` of
  a sequence pairs depth map ``start + 2 + i`` with the count frame of the same slot, so a slice of ``n`` maps
  holds ``n - 2`` items. The test sequence's items are split into 200 validation items
  (``SPLIT{1,3}_VALID_INDICES``, below) and the test items, which are exactly the others of ``range(1061)``
  (split 1: 861 items) and ``range(1542)`` (split 3: 1342 items), as checked against indices.py.
- The split-1 lists run one item past the data: [139, 1201) gives 1060 items (0..1059) but the test list ends with
  item 1060 (SS's dataset would raise IndexError on it; the lists cover DDES's 1061 test maps 140..1200).
  evsnn drops that one item, logs it, and records it in the cache (``dropped_items``): 860 test items.
- Frames (SS ``utils.py:215-281``, ``mvsec_dataset.py:161-180``): events of each camera after
  ``t_depth[start] - 50 ms`` and before ``t_depth[stop - 1]``, rectified with the calibration maps and kept when
  ``0 <= x_rect <= 346``, ``0 <= y_rect <= 260``, pixel = the integer part; the camera's own first event ``t0``
  starts a 50-ms grid and slot ``k`` counts the events with ``t0 + 50k ms < t < t0 + 50(k+1) ms`` per polarity,
  ON then OFF. Input ``[left ON, left OFF, right ON, right OFF]``, not normalised (SS train.py:92-94, 218).
- Ground truth (SS ``mvsec_dataset.py:137-144``): ``skimage.morphology.area_closing(depth, area_threshold=24)``
  on every map, then zeros become NaN. skimage orders NaN below every number, so NaN holes smaller than 24
  pixels are filled and larger ones stay NaN; :func:`area_closing` does the same without scikit-image.
"""
from __future__ import annotations

import heapq

import numpy as np

from evsnn.errors import ConfigError

#: SS indices.py SEQUENCES_FRAMES: split -> sequence -> [start, stop) of the left rectified depth maps
SS_FRAMES: dict[int, dict[str, tuple[int, int]]] = {
    1: {"indoor_flying1": (139, 1201), "indoor_flying2": (159, 1581), "indoor_flying3": (124, 1816)},
    2: {"indoor_flying1": (79, 1261), "indoor_flying2": (119, 1421), "indoor_flying3": (124, 1816)},
    3: {"indoor_flying1": (79, 1261), "indoor_flying2": (119, 1581), "indoor_flying3": (72, 1816)},
}
#: items the test lists cover (validation + test = range(n))
SS_ITEMS: dict[int, int] = {1: 1061, 3: 1542}
#: SS indices.py SPLIT1_VALID_INDICES / SPLIT3_VALID_INDICES (200 items each of the test sequence)
SS_VALID_ITEMS: dict[int, tuple[int, ...]] = {
    1: (1, 11, 15, 25, 29, 47, 53, 56, 60, 67, 80, 82, 89, 95, 100, 107, 108, 110, 112, 114, 124, 136, 138, 139, 140,
        153, 155, 158, 173, 177, 185, 190, 193, 215, 216, 223, 231, 235, 236, 242, 244, 271, 281, 286, 287, 292, 293,
        300, 303, 304, 305, 308, 312, 314, 323, 328, 332, 338, 348, 351, 355, 359, 372, 375, 383, 385, 393, 396, 397,
        402, 409, 411, 418, 423, 433, 440, 441, 451, 455, 458, 477, 478, 479, 481, 486, 488, 494, 495, 500, 524, 525,
        527, 533, 537, 538, 539, 541, 546, 562, 567, 569, 574, 576, 587, 590, 595, 603, 614, 619, 621, 627, 633, 638,
        652, 659, 668, 671, 673, 676, 680, 682, 689, 690, 691, 706, 707, 720, 735, 742, 744, 745, 748, 749, 752, 755,
        757, 770, 773, 774, 776, 780, 782, 784, 788, 801, 808, 809, 810, 814, 819, 823, 831, 834, 839, 840, 846, 858,
        863, 872, 874, 878, 881, 883, 884, 885, 887, 898, 899, 900, 904, 908, 914, 916, 926, 927, 936, 941, 943, 951,
        954, 963, 965, 974, 978, 989, 999, 1002, 1005, 1009, 1012, 1015, 1018, 1023, 1032, 1034, 1035, 1040, 1044,
        1045, 1059),
    3: (2, 5, 24, 29, 40, 43, 56, 76, 77, 85, 101, 102, 107, 110, 122, 138, 139, 141, 143, 146, 157, 165, 175, 178,
        179, 182, 219, 245, 260, 263, 264, 285, 286, 288, 291, 297, 302, 321, 334, 340, 348, 356, 357, 367, 368, 371,
        377, 381, 383, 386, 399, 406, 414, 416, 417, 440, 445, 456, 469, 477, 483, 485, 491, 511, 514, 516, 518, 537,
        538, 540, 542, 550, 551, 557, 562, 568, 571, 574, 580, 585, 588, 592, 612, 619, 648, 651, 654, 682, 697, 705,
        715, 728, 730, 740, 741, 759, 762, 765, 768, 770, 785, 791, 836, 851, 855, 860, 872, 880, 885, 897, 905, 913,
        931, 933, 935, 942, 944, 962, 967, 973, 983, 984, 985, 987, 991, 992, 1010, 1012, 1018, 1039, 1041, 1046,
        1051, 1058, 1061, 1071, 1077, 1081, 1097, 1106, 1110, 1111, 1118, 1123, 1132, 1134, 1136, 1150, 1153, 1161,
        1164, 1167, 1172, 1174, 1201, 1207, 1210, 1214, 1217, 1218, 1219, 1223, 1226, 1229, 1236, 1239, 1265, 1267,
        1271, 1284, 1287, 1298, 1299, 1302, 1311, 1315, 1321, 1324, 1334, 1338, 1350, 1352, 1355, 1387, 1393, 1397,
        1409, 1419, 1421, 1455, 1457, 1460, 1461, 1470, 1476, 1505, 1506, 1507, 1520, 1526),
}
#: item i of a slice [start, stop) is depth map start + ITEM_OFFSET + i (one warm-up, one training chunk)
ITEM_OFFSET = 2
FRAME_US = 50_000


def ss_lists(split: int) -> tuple[list[int], list[int]]:
    """(validation items, test items) of the test sequence of ``split`` as SS commits them."""
    if split not in SS_VALID_ITEMS:
        raise ConfigError(f"frames mvsec.split = {split}: StereoSpike's protocol has item lists for splits "
                          f"{', '.join(map(str, sorted(SS_VALID_ITEMS)))} only")
    val = list(SS_VALID_ITEMS[split])
    vs = set(val)
    return val, [i for i in range(SS_ITEMS[split]) if i not in vs]


def ss_range(split: int, sequence: str, overrides: dict | None = None) -> tuple[int, int]:
    """SS's [start, stop) depth-map slice of ``sequence`` (``overrides``: frames mvsec.frame_ranges)."""
    if overrides and sequence in overrides:
        start, stop = (int(v) for v in overrides[sequence])
        return start, stop
    try:
        return SS_FRAMES[int(split)][sequence]
    except KeyError:
        raise ConfigError(f"StereoSpike's protocol has no frame range for {sequence} in split {split}; set frames "
                          f"mvsec.frame_ranges.{sequence}: [start, stop]") from None


# ---------------------------------------------------------------------------------------------- area closing
def area_closing(image: np.ndarray, area_threshold: int = 24) -> np.ndarray:
    """Grey-level area closing with 4-connectivity (skimage.morphology.area_closing, connectivity 1): every pixel
    rises to the lowest level ``h >= f(x)`` at which its connected component of ``{f <= h}`` holds at least
    ``area_threshold`` pixels, i.e. dark basins smaller than the threshold are filled up to their spill level.
    NaN is ordered below every number (as skimage's sorting does): NaN holes under the threshold are filled, larger
    ones stay NaN. Returns a new float array.

    Algorithm: a bounded priority flood from every pixel without a strictly lower neighbour (each basin's
    regional minima); a flood stops when its region reaches the threshold, and every pixel it reached without
    descending gets the flood's final level (those pixels' components coincide with the flood's from their own
    level up). Each flood visits fewer than ``area_threshold`` pixels plus their border."""
    f = np.asarray(image, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"area_closing takes a 2-D image, got shape {f.shape}")
    lam = int(area_threshold)
    out = f.copy()
    if lam <= 1 or f.size == 0:
        return out
    nan = np.isnan(f)
    g = np.where(nan, -np.inf, f)
    H, W = g.shape
    # plateaus (4-connected equal values, NaN with NaN): one that is at least lam pixels never changes, and one
    # flood per regional-minimum plateau (no pixel with a strictly lower neighbour) covers all its pixels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    idx = np.arange(g.size).reshape(H, W)
    eq_h, eq_v = g[:, :-1] == g[:, 1:], g[:-1, :] == g[1:, :]
    rows = np.concatenate([idx[:, :-1][eq_h], idx[:-1, :][eq_v]])
    cols = np.concatenate([idx[:, 1:][eq_h], idx[1:, :][eq_v]])
    _, lab = connected_components(coo_matrix((np.ones(rows.size, np.int8), (rows, cols)), shape=(g.size, g.size)),
                                  directed=False)
    pad = np.pad(g, 1, constant_values=np.inf)
    lower = ((pad[:-2, 1:-1] < g) | (pad[2:, 1:-1] < g) | (pad[1:-1, :-2] < g) | (pad[1:-1, 2:] < g)).ravel()
    size = np.bincount(lab)
    minimum = np.bincount(lab, weights=lower) == 0
    first = np.unique(lab, return_index=True)[1]
    seeds = first[(size < lam) & minimum]
    done = np.zeros(g.size, dtype=bool)
    flat = g.ravel()
    res = g.ravel().copy()
    for s in seeds:
        if done[s]:
            continue
        level = flat[s]
        region = [s]
        seen = {s}  # noqa: B023 - push() below closes over this flood's state
        heap: list[tuple[float, int]] = []

        def push(p):
            r, c = divmod(p, W)
            for q in ((p - W) if r else -1, (p + W) if r + 1 < H else -1, (p - 1) if c else -1,
                      (p + 1) if c + 1 < W else -1):
                if q >= 0 and q not in seen:
                    seen.add(q)
                    heapq.heappush(heap, (flat[q], q))

        push(s)
        assign = [s]
        count = 1
        while count < lam and heap:
            v, p = heapq.heappop(heap)
            if v >= level:
                level = v
                assign.append(p)
            count += 1
            region.append(p)
            push(p)
        if count < lam and not heap:  # the whole image is smaller than the threshold: the root level
            level = max(flat[p] for p in region)
        for p in assign:
            if not done[p]:
                res[p] = level
                done[p] = True
    res = res.reshape(H, W)
    return np.where(np.isneginf(res), np.nan, res)


def area_closing_bruteforce(image: np.ndarray, area_threshold: int = 24) -> np.ndarray:
    """The definition, level by level (tests only): ``out(x) = min{h in values, h >= f(x) : |C_x(f <= h)| >= A}``
    with 4-connected components and NaN below every number."""
    from scipy import ndimage

    f = np.asarray(image, dtype=np.float64)
    g = np.where(np.isnan(f), -np.inf, f)
    out = np.full(g.shape, np.nan)
    levels = np.unique(g)
    todo = np.ones(g.shape, dtype=bool)
    for h in levels:
        lab, _ = ndimage.label(g <= h)
        sizes = np.bincount(lab.ravel())
        hit = todo & (lab > 0) & (sizes[lab] >= area_threshold)
        out[hit] = h
        todo &= ~hit
    out[todo] = levels[-1]
    return np.where(np.isneginf(out), np.nan, out)
