import numpy as np
import pytest
import torch

from gracekit.edge.recipe import (edge_widths, load_cloud, make_embedder, round_half, save_cloud, score_pair,
                                 train_embedder)
from gracekit.models import embed


def test_edge_widths():
    assert edge_widths(8) == (8, 16, 16, 16)
    assert edge_widths(4, depth=2) == (4, 8)
    with pytest.raises(ValueError, match="width"):
        edge_widths(0)
    with pytest.raises(ValueError, match="depth"):
        edge_widths(4, depth=6)


def test_cloud_roundtrip_in_half_precision(tmp_path):
    torch.manual_seed(0)
    cloud = make_embedder((4, 8), 5)
    round_half(cloud)
    path = tmp_path / "cloud.pt"
    save_cloud(cloud, path, seed=3)
    loaded, meta = load_cloud(path)
    assert meta["seed"] == 3 and not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())
    X = np.random.default_rng(0).random((6, 64, 64), dtype=np.float32)
    np.testing.assert_array_equal(embed(loaded, X), embed(cloud, X))  # rounded first, so exactly equal
    with pytest.raises(FileNotFoundError, match="make_edge_cloud"):
        load_cloud(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"state": {}}, bad)
    with pytest.raises(ValueError, match="not a valid cloud"):
        load_cloud(bad)


def test_score_pair_identical_and_unrelated_embeddings():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(50), 4)
    centers = rng.standard_normal((50, 16))
    z = centers[y] + 0.3 * rng.standard_normal((200, 16))
    same = score_pair(z, z, None, y, n_draws=2)
    assert same["edge_cloud"] == same["cloud_cloud"] == same["edge_edge"] > 0.9
    # a random rotation keeps edge/edge but breaks edge->cloud (chance is 1/50)
    q, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    rot = score_pair(z @ q, z, None, y, n_draws=2)
    assert rot["edge_edge"] == pytest.approx(same["edge_edge"]) and rot["edge_cloud"] < 0.15
    with pytest.raises(ValueError, match="width"):
        score_pair(z[:, :8], z, None, y)


def test_train_embedder_validates_and_trains_tiny_edge():
    X = np.random.default_rng(0).random((20, 64, 64), dtype=np.float32)
    y = np.repeat(np.arange(5), 4)
    with pytest.raises(ValueError, match="method"):
        train_embedder((2,), X, y, method="nas")
    with pytest.raises(ValueError, match="cloud"):
        train_embedder((2,), X, y, method="bct")
    cloud = make_embedder((2, 4), 3)
    with pytest.raises(ValueError, match="rows"):
        train_embedder((2,), X, y, method="bct", cloud=cloud)
    cloud = make_embedder((2, 4), 5)
    edge = train_embedder((2,), X, y, method="l2", cloud=cloud, recipe=dict(n_epochs=2, decay_epochs=1))
    assert embed(edge, X).shape == (20, 64)


def test_load_sweep_validates_and_shipped_sweep_meets_the_bars(tmp_path):
    from gracekit.edge.recipe import SWEEP_FILE, load_sweep
    from gracekit.edge.sweep import summarize

    with pytest.raises(FileNotFoundError, match="make_edge_cloud"):
        load_sweep(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"records": []}')
    with pytest.raises(ValueError, match="not a valid edge sweep"):
        load_sweep(tmp_path / "bad.json")
    sweep = load_sweep()
    rows = summarize(sweep["records"], sweep["costs"], grid=False)
    assert {r["n"] for r in rows} == {3}  # three seeds per cell
    indep = [r for r in rows if r["method"] == "independent"]
    assert max(r["edge_cloud"] for r in indep) < 0.03  # chance is 0.01
    for method in ("bct", "l2"):
        acc = [r["edge_cloud"] for r in rows if r["method"] == method]
        assert np.all(np.diff(acc) > 0) and acc[-1] > 0.75


def test_initialisation_follows_the_seed_not_the_global_rng(tmp_path, monkeypatch):
    X = np.random.default_rng(0).random((12, 64, 64), dtype=np.float32)
    y = np.repeat(np.arange(3), 4)
    out = []
    for i, folder in enumerate(("a", "b")):
        monkeypatch.setenv("GRACEKIT_CACHE", str(tmp_path / folder))  # no cache hit for the second run
        torch.manual_seed(100 + i)  # different global RNG state before each call
        torch.rand(7)
        edge = train_embedder((2,), X, y, seed=5, recipe=dict(n_epochs=1, decay_epochs=0))
        out.append(embed(edge, X))
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)
