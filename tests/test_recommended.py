"""qrnn.recommended_reservoir: the study's configuration, its overrides and its checks."""
import numpy as np
import pytest

from qrnn import QGRU, QLSTM, QRNN, Ensemble, load, recommended_reservoir, save


@pytest.mark.parametrize("name,cls", [("QRNN", QRNN), ("QLSTM", QLSTM), ("QGRU", QGRU)])
def test_builds_the_studied_configuration(name, cls, rng, tmp_path):
    res = recommended_reservoir(name, 1, seed=2)
    assert isinstance(res, Ensemble) and len(res.members) == 5
    assert [m.seed for m in res.members] == [10, 11, 12, 13, 14]
    for m in res.members:
        assert type(m) is cls
        assert (m.init, m.features, m.correlators, m.input_scaling, m.hidden_size) == ("uniform", "all", True, 0.5, 3)
    X = rng.normal(size=(3, 4, 1))
    F = res.transform(X)
    # the members' features side by side, each the reservoir built by hand
    by_hand = [cls(1, 3, seed=10 + k, init="uniform", features="all", correlators=True, input_scaling=0.5)
               for k in range(5)]
    np.testing.assert_allclose(F, np.concatenate([m.transform(X) for m in by_hand], axis=-1), rtol=0, atol=1e-12)
    save(res, tmp_path / "r.qrnn")
    np.testing.assert_array_equal(load(tmp_path / "r.qrnn").transform(X), F)


def test_overrides_and_checks():
    one = recommended_reservoir("QLSTM", 2, seed=0, members=1, input_scaling=2.0, dtype="float32", n_layers=3)
    assert isinstance(one, QLSTM) and (one.input_scaling, one.n_layers, one.input_size) == (2.0, 3, 2)
    assert recommended_reservoir("QRNN", 1).members[0].seed is None
    with pytest.raises(ValueError, match=r"model must be one of \['QGRU', 'QLSTM', 'QRNN'\], got 'LSTM'"):
        recommended_reservoir("LSTM", 1)
    with pytest.raises(ValueError, match="members must be >= 1"):
        recommended_reservoir("QRNN", 1, members=0)
    with pytest.raises(ValueError, match="seed must be >= 0, got -1"):
        recommended_reservoir("QRNN", 1, seed=-1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        recommended_reservoir("QRNN", 1, colour="red")
