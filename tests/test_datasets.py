"""qrnn.datasets: the shipped files read as the packages' own loaders read them, and never a download."""
import importlib.machinery
import importlib.util
import re
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import qrnn
from qrnn import datasets
from qrnn.datasets import _read_ts, japanese_vowels, santafe_laser


@pytest.fixture(scope="module")
def vowels():
    return japanese_vowels()


def test_santafe_laser_is_reservoirpys_series():
    from reservoirpy.datasets import santafe_laser as reference

    u, want = santafe_laser(), reference()
    assert u.dtype == np.float64 and u.ndim == 1
    assert u.shape == (want.size,) and np.array_equal(u, want.reshape(-1))


@pytest.mark.parametrize("split", ["train", "test"])
def test_japanese_vowels_is_sktimes_reading_value_for_value(vowels, split):
    from sktime.datasets import load_japanese_vowels

    X_ref, y_ref = load_japanese_vowels(split=split, return_X_y=True)  # nested frame: unequal lengths kept
    X, y = vowels[:2] if split == "train" else vowels[2:]
    assert len(X) == len(X_ref) and y.tolist() == [str(v) for v in y_ref]
    for i, x in enumerate(X):
        want = np.column_stack([X_ref.iloc[i, d].to_numpy(dtype=np.float64) for d in range(X_ref.shape[1])])
        assert x.dtype == np.float64 and x.shape == want.shape, i
        assert np.array_equal(x, want), i


def test_japanese_vowels_shapes_and_classes(vowels):
    X_train, y_train, X_test, y_test = vowels
    assert (len(X_train), len(y_train), len(X_test), len(y_test)) == (270, 270, 370, 370)
    labels = [str(k) for k in range(1, 10)]
    assert sorted(set(y_train)) == labels and sorted(set(y_test)) == labels
    assert set(Counter(y_train.tolist()).values()) == {30}  # 30 utterances per speaker to train
    assert all(x.ndim == 2 and x.shape[1] == 12 for x in X_train + X_test)
    lengths = [len(x) for x in X_train + X_test]
    assert (min(lengths), max(lengths)) == (7, 29) and len(set(lengths)) > 2  # unequal lengths


def test_the_listing_names_each_loader():
    assert datasets.DATASETS == {"santafe_laser": santafe_laser, "japanese_vowels": japanese_vowels}


@pytest.mark.parametrize("name, package", [("santafe_laser", "reservoirpy"), ("japanese_vowels", "sktime")])
def test_a_missing_package_names_the_dataset_and_the_extra(monkeypatch, name, package):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == package else real(n, *a))
    with pytest.raises(qrnn.MissingExtraError, match=rf"{name}.*optional package '{package}'.*not installed.*"
                                                      r"pip install 'qrnn\[datasets\]'"):
        datasets.DATASETS[name]()


@pytest.mark.parametrize("name, package", [("santafe_laser", "reservoirpy"), ("japanese_vowels", "sktime")])
def test_an_install_without_the_file_is_refused(monkeypatch, tmp_path, name, package):
    real = importlib.util.find_spec
    empty = importlib.machinery.ModuleSpec(package, None, is_package=True)
    empty.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: empty if n == package else real(n, *a))
    with pytest.raises(qrnn.MissingExtraError, match=rf"{name}.*'{package}'.*not in the installed copy.*"
                                                      r"pip install 'qrnn\[datasets\]'"):
        datasets.DATASETS[name]()


def test_no_network_is_touched(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a data set loader opened a network connection")

    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, refuse)
    assert santafe_laser().size > 0 and len(japanese_vowels()[0]) > 0


def test_importing_and_loading_pulls_in_neither_pandas_nor_the_packages():
    code = ("import sys, qrnn; assert 'datasets' in dir(qrnn); d = qrnn.datasets; "
            "d.santafe_laser(); d.japanese_vowels(); "
            "print(sorted(m for m in ('pandas', 'sktime', 'reservoirpy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- the .ts reader on files written here --------------------------------------
HEADER = ["# a comment", "@problemName Tiny", "@timeStamps false", "@missing false", "@univariate false",
          "@dimensions 2", "@equalLength false", "@classLabel true a b", "@data"]


def _write(tmp_path, lines, name="tiny.ts"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_reader_reads_a_file_it_did_not_write(tmp_path):
    rng = np.random.default_rng(0)
    cases = [(rng.normal(size=(int(T), 2)), label) for T, label in zip(rng.integers(1, 6, size=5), "abbab")]
    body = [":".join(",".join(repr(float(v)) for v in x[:, d]) for d in range(2)) + f":{label}" for x, label in cases]
    X, y, head = _read_ts(_write(tmp_path, HEADER + body))
    assert y.tolist() == list("abbab") and head["problemname"] == "Tiny" and head["dimensions"] == 2
    assert len(X) == 5 and all(np.array_equal(x, want) for x, (want, _) in zip(X, cases))


GOOD = "1.0,2.0,3.0:4.0,5.0,6.0:a"


@pytest.mark.parametrize("bad, message", [
    ("1.0,2.0,3.0:4.0,5", "expected 2 dimension.*got 2 field"),  # torn: cut inside the last dimension
    ("1.0,2.0,3.0:4.0,5.0,6.0:c", "class label 'c' is not one of"),
    ("1.0,2.0,3.0:4.0,5.0,6.0:", "class label '' is not one of"),
    ("1.0,x,3.0:4.0,5.0,6.0:a", "dimension 0.*'x' is not a number"),
    ("1.0,2.0,3.0:4.0,,6.0:a", "dimension 1.*'' is not a number"),
    ("1.0,2.0,3.0:4.0,inf,6.0:a", "'inf' is not a finite number"),
    ("1.0,2.0,3.0:4.0,?,6.0:a", "missing value '\\?'.*@missing false"),
    ("1.0,2.0:4.0,5.0,6.0:a", "dimension 1 has 3 values but dimension 0 has 2"),
])
def test_a_malformed_data_line_is_refused_with_its_line(tmp_path, bad, message):
    path = _write(tmp_path, HEADER + [GOOD, bad])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line {len(HEADER) + 2} \(case 1.*{message}"):
        _read_ts(path)


@pytest.mark.parametrize("change, message", [
    (("@dimensions 2", "@dimensions two"), "line 6: @dimensions takes a positive integer"),
    (("@dimensions 2", "@dimension 2"), "line 6: expected a header tag"),
    (("@missing false", "@missing maybe"), "line 4: @missing takes true or false"),
    (("@classLabel true a b", "@classLabel true"), "line 8: @classLabel true must list the class labels"),
    (("@classLabel true a b", "@classLabel false"), "line 9: @data before an '@classLabel true"),
    (("@timeStamps false", "@timeStamps true"), "line 9: @timeStamps true is not supported"),
    (("@univariate false", "@univariate true"), "line 9: @univariate true contradicts @dimensions 2"),
    (("@equalLength false", "@missing true"), "line 7: @missing given twice"),
])
def test_a_malformed_header_is_refused_with_its_line(tmp_path, change, message):
    lines = [change[1] if line == change[0] else line for line in HEADER]
    path = _write(tmp_path, lines + [GOOD])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, {message}"):
        _read_ts(path)


def test_equal_length_is_held_to(tmp_path):
    lines = [line.replace("@equalLength false", "@equalLength true") for line in HEADER]
    path = _write(tmp_path, lines + [GOOD, "1.0,2.0:4.0,5.0:b"])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}, line 11 \(case 1\): 2 steps.*@equalLength true.*case 0 has 3"):
        _read_ts(path)


@pytest.mark.parametrize("lines, message", [(HEADER[:-1] + [GOOD], "expected a header tag"),
                                            (HEADER[:-1], "no @data line"),
                                            (HEADER, "no cases after @data")])
def test_a_file_cut_before_its_data_is_refused(tmp_path, lines, message):
    path = _write(tmp_path, lines)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*{message}"):
        _read_ts(path)
