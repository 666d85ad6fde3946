import numpy as np
import pytest

from gracekit.edge import tabular


def test_make_identities_is_seeded_per_identity_and_validates():
    X1, y1 = tabular.make_identities(5, 4, first_id=10, seed=3)
    X2, y2 = tabular.make_identities(8, 4, first_id=10, seed=3)
    assert X1.shape == (20, 20) and X1.dtype == np.float32
    np.testing.assert_array_equal(y1, np.repeat(np.arange(10, 15), 4))
    np.testing.assert_allclose(X1, X2[:20])  # the same people whatever else is drawn
    assert not np.allclose(X1, tabular.make_identities(5, 4, first_id=10, seed=4)[0])
    with pytest.raises(ValueError, match="n_ids"):
        tabular.make_identities(0, 4)


def test_mlp_flops_counts_multiply_adds_twice():
    assert tabular.mlp_flops(20, (128, 128), 32) == 2 * (20 * 128 + 128 * 128 + 128 * 32)


def test_tiny_toy_trains_compatible_and_independent_edges(tmp_path, monkeypatch):
    monkeypatch.setenv("GRACEKIT_CACHE", str(tmp_path))
    data = tabular.make_toy(seed=0, n_train_ids=200, n_per_id=10, n_test_ids=20, epochs=10,
                            cloud_hidden=(128,), edge_hidden=(64,))
    cloud = tabular.train_cloud(data, seed=0)
    edge = tabular.train_edge(data, cloud=cloud, seed=0)
    indep = tabular.train_edge(data, method="independent", seed=0)
    s, si = tabular.score(edge, cloud, data), tabular.score(indep, cloud, data)
    # the L2 edge lives in the cloud's space; the independent one does not (chance is 1/20)
    assert s["edge_cloud"] > si["edge_cloud"] + 0.15, (s, si)
    with pytest.raises(ValueError, match="cloud"):
        tabular.train_edge(data, seed=0)
    with pytest.raises(ValueError, match="hidden"):
        tabular.train_edge(data, cloud=cloud, hidden=(0,))
