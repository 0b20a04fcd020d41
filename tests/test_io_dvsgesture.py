"""DvsGesture label CSVs, trial lists, class mapping and the tree listing."""
from __future__ import annotations

import numpy as np
import pytest

from evsnn.errors import DataMissingError, FormatError
from evsnn.io.dvsgesture import (CLASS_NAMES, LABEL_DTYPE, labels_path_for, list_trials, read_gesture_mapping,
                                 read_labels, read_trial_list, write_labels)

# the real user02-style file excerpt of FORMATS.md 1.4, plus an overlap (like user22_led) and a row out of time order
REAL_LIKE = """class,startTime_usec,endTime_usec
1,53036986,59508469
2,64889467,73697045
3,74839238,81768543
5,87200306,97835393
4,98139978,106541442
8,132355007,141594080
8,142355542,148751823
9,150000000,160500000
10,160000000,170000000
7,120000000,125000000
11,171367247,177991967
"""


def test_read_labels_keeps_file_order_and_quirks(tmp_path):
    f = tmp_path / "user02_led_labels.csv"
    f.write_text(REAL_LIKE)
    lab = read_labels(f)
    assert lab.dtype == LABEL_DTYPE and len(lab) == 11
    assert lab["label"].tolist() == [0, 1, 2, 4, 3, 7, 7, 8, 9, 6, 10]  # class - 1, file order, class 8 twice
    assert lab["start"][0] == 53036986 and lab["end"][-1] == 177991967
    assert lab["end"][7] > lab["start"][8]  # overlapping windows are kept as they are
    assert not np.all(np.diff(lab["start"]) > 0)  # out-of-order row kept


def test_read_labels_crlf_no_header_blank_lines(tmp_path):
    f = tmp_path / "x_labels.csv"
    f.write_bytes(b"3,10,20\r\n\r\n11,30,40\r\n\r\n")
    assert read_labels(f).tolist() == [(2, 10, 20), (10, 30, 40)]


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("class,startTime_usec,endTime_usec\n1,10,20\n2,30\n", 3, "expected 3 comma-separated fields"),
        ("class,startTime_usec,endTime_usec\n1,10,20\n2,3x0,40\n", 3, "not integers"),
        ("1,10,20\n12,30,40\n", 2, "class 12 outside 1..11"),
        ("1,10,20\n0,30,40\n", 2, "class 0 outside 1..11"),
        ("class,startTime_usec,endTime_usec\n4,50,50\n", 2, "empty or negative"),
    ],
)
def test_read_labels_bad_rows(tmp_path, text, line, words):
    f = tmp_path / "bad_labels.csv"
    f.write_text(text)
    with pytest.raises(FormatError) as exc:
        read_labels(f)
    msg = str(exc.value)
    assert "bad_labels.csv" in msg and f"line {line}:" in msg and words in msg
    assert exc.value.offset == len("".join(text.splitlines(keepends=True)[:line - 1]))


def test_write_labels_round_trip(tmp_path):
    lab = np.array([(4, 100, 200), (0, 50, 90)], dtype=LABEL_DTYPE)
    f = write_labels(tmp_path / "u_labels.csv", lab)
    assert f.read_text() == "class,startTime_usec,endTime_usec\n5,100,200\n1,50,90\n"
    np.testing.assert_array_equal(read_labels(f), lab)


def test_trial_list_and_mapping(tmp_path):
    f = tmp_path / "trials_to_train.txt"
    f.write_text("user01_fluorescent.aedat\r\n  user01_led.aedat  \n\n\nuser02_natural.aedat")
    assert read_trial_list(f) == ["user01_fluorescent.aedat", "user01_led.aedat", "user02_natural.aedat"]
    m1 = tmp_path / "m1.csv"
    m1.write_text("class_id,class_name\n" + "".join(f"{i + 1},{n}\n" for i, n in enumerate(CLASS_NAMES)))
    assert read_gesture_mapping(m1) == {i + 1: n for i, n in enumerate(CLASS_NAMES)}
    m2 = tmp_path / "m2.csv"
    m2.write_text("hand_clapping,1\nright_hand_wave,2\n\n")
    assert read_gesture_mapping(m2) == {1: "hand_clapping", 2: "right_hand_wave"}
    m3 = tmp_path / "m3.csv"
    m3.write_text("1,hand_clapping\n2,right,hand\n")
    with pytest.raises(FormatError, match="line 2"):
        read_gesture_mapping(m3)


def test_class_names():
    assert len(CLASS_NAMES) == 11
    assert CLASS_NAMES[0] == "hand clapping" and CLASS_NAMES[3] == "right arm clockwise"
    assert CLASS_NAMES[10] == "other gestures"


def _tree(root, train, test):
    root.mkdir(parents=True, exist_ok=True)
    for name in train + test:
        (root / name).write_bytes(b"#!AER-DAT3.1\r\n")
        labels_path_for(root / name).write_text("class,startTime_usec,endTime_usec\n")
    (root / "trials_to_train.txt").write_text("\n".join(train) + "\n\n")
    (root / "trials_to_test.txt").write_text("\n".join(test))


def test_list_trials(tmp_path):
    train, test = ["user01_fluorescent.aedat", "user01_led.aedat"], ["user24_natural.aedat"]
    _tree(tmp_path / "DvsGesture", train, test)
    for root in (tmp_path / "DvsGesture", tmp_path):  # the tree or its parent
        trials = list_trials(root)
        assert [a.name for a, _ in trials["train"]] == train
        assert [(a.name, c.name) for a, c in trials["test"]] == [("user24_natural.aedat",
                                                                   "user24_natural_labels.csv")]


def test_list_trials_missing_files(tmp_path):
    root = tmp_path / "DvsGesture"
    _tree(root, ["user01_led.aedat", "user02_led.aedat"], ["user24_led.aedat"])
    (root / "user02_led.aedat").unlink()
    with pytest.raises(DataMissingError, match=r"user02_led\.aedat: listed in trials_to_train\.txt"):
        list_trials(root)
    _tree(root, ["user01_led.aedat", "user02_led.aedat"], ["user24_led.aedat"])
    (root / "user24_led_labels.csv").unlink()
    with pytest.raises(DataMissingError, match=r"user24_led_labels\.csv: listed in trials_to_test\.txt"):
        list_trials(root)
    (root / "trials_to_test.txt").unlink()
    with pytest.raises(DataMissingError, match=r"trials_to_test\.txt: trial list missing"):
        list_trials(root)
