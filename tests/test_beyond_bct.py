"""Notebook 08's library: FCT transformation and FastFill loss, backfilling orders, the d-simplex chain.

Each piece is checked against an independent computation (a formula written out here, brute-force
loops, scikit-learn, or the core's own retrieval functions) on tiny data.
"""
import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from gracekit.beyond_bct import experiment as E
from gracekit.beyond_bct.backfill import backfill_order, order_by, ordered_backfill_curve
from gracekit.beyond_bct.stationary import (average_compatibility, compatible_pairs, simplex_embedder,
                                            simplex_vertices)
from gracekit.beyond_bct.transform import (FCTTransformation, PixelPCA, apply_transformation, fastfill_loss, fct_loss,
                                           fit_transformation, transformation_flops)
from gracekit.chain.experiment import ChainSetup
from gracekit.datasets import shipped
from gracekit.retrieval import backfill_curve, cmc, cross_model_matrix, gallery_split
from gracekit.train import fit

rng = np.random.default_rng(0)


# ----------------------------------------------------------------------------- transformation
def test_fct_loss_is_the_official_mse():
    psi, target = torch.randn(7, 5), torch.randn(7, 5)
    assert torch.isclose(fct_loss(psi, target).mean(), torch.nn.MSELoss()(psi, target))
    assert fct_loss(psi, target).shape == (7,)
    with pytest.raises(ValueError, match="same shape"):
        fct_loss(psi, target[:, :4])


def test_fastfill_loss_is_the_official_formula_and_its_minimum_is_log_l_over_2mu():
    loss, sigma = torch.rand(6) + 0.1, torch.randn(6)
    expected = np.mean(0.5 * np.exp(-sigma.numpy()) * loss.numpy() + 0.3 * sigma.numpy())
    assert np.isclose(float(fastfill_loss(loss, sigma, mu=0.3)), expected, rtol=1e-6)
    grid = torch.linspace(-6, 6, 24001)
    for l in [0.05, 0.4, 2.0]:
        values = 0.5 * torch.exp(-grid) * l + 0.5 * grid
        best = float(grid[values.argmin()])
        assert abs(best - np.log(l / (2 * 0.5))) < 1e-3
    with pytest.raises(ValueError, match="mu"):
        fastfill_loss(loss, sigma, mu=0)
    with pytest.raises(ValueError, match="shape"):
        fastfill_loss(loss, sigma[:3])


def test_transformation_has_the_official_widths_and_flop_count():
    h = FCTTransformation(128, 128, 128, hidden=2048)
    linears = [(m.in_features, m.out_features) for m in h.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [(128, 256), (256, 256), (128, 256), (256, 256), (512, 2048), (2048, 2048), (2048, 128)]
    assert transformation_flops(h) == 2 * sum(i * o for i, o in linears)
    no_side = FCTTransformation(64, 32, hidden=16, uncertainty=True)
    assert no_side.p2 is None and no_side.mixer[0][0].in_features == 64
    psi, sigma = no_side.eval()(torch.randn(3, 64))
    assert psi.shape == (3, 32) and sigma.shape == (3,)
    with pytest.raises(ValueError, match="side must be given"):
        h(torch.randn(2, 128))
    with pytest.raises(ValueError, match="d_old"):
        FCTTransformation(0, 8)


def test_fit_transformation_learns_a_map_it_can_apply_to_unseen_items():
    A = rng.normal(size=(8, 6))
    old = rng.normal(size=(1500, 8)).astype("float32")
    new = np.tanh(old @ A).astype("float32")
    h = fit_transformation(old[:1200], new[:1200], hidden=64, n_epochs=40, lr=1e-2, batch_size=128, seed=0)
    psi, sigma = apply_transformation(h, old[1200:])
    target = new[1200:] / np.linalg.norm(new[1200:], axis=1, keepdims=True)
    assert sigma is None and np.allclose(np.linalg.norm(psi, axis=1), 1, atol=1e-5)
    assert np.mean(np.sum(psi * target, axis=1)) > 0.95
    with pytest.raises(ValueError, match="same images"):
        fit_transformation(old, new[:10])
    with pytest.raises(ValueError, match="columns"):
        apply_transformation(h, old[:, :4])


def test_uncertainty_head_gives_larger_sigma_where_the_target_is_noisier():
    old = rng.normal(size=(2000, 4)).astype("float32")
    noisy = old[:, 0] > 0  # the noise level is visible in the input
    new = old[:, :2] + np.where(noisy, 1.0, 0.05)[:, None] * rng.normal(size=(2000, 2))
    h = fit_transformation(old, new.astype("float32"), hidden=32, n_epochs=30, lr=5e-3, batch_size=200,
                           uncertainty=True, seed=1)
    _, sigma = apply_transformation(h, old)
    assert sigma[noisy].mean() > sigma[~noisy].mean() + 1.0


def test_discriminative_term_needs_labels_and_changes_the_result():
    old = rng.normal(size=(200, 4)).astype("float32")
    new = rng.normal(size=(200, 3)).astype("float32")
    with pytest.raises(ValueError, match="labels"):
        fit_transformation(old, new, mu_disc=1.0)
    y = rng.integers(0, 5, size=200)
    W = rng.normal(size=(5, 3))
    a = apply_transformation(fit_transformation(old, new, n_epochs=3, batch_size=50, seed=0), old)[0]
    b = apply_transformation(fit_transformation(old, new, n_epochs=3, batch_size=50, seed=0, labels=y,
                                                classifier=W, mu_disc=1.0), old)[0]
    assert not np.allclose(a, b)


def test_pixel_pca_matches_scikit_learn_whitened_pca():
    X = rng.random((60, 32, 32)).astype("float32")
    side = PixelPCA(5, size=16).fit(X)
    thumbs = torch.nn.functional.adaptive_avg_pool2d(torch.as_tensor(X).unsqueeze(1), 16).flatten(1).numpy()
    ref = PCA(5, whiten=True, svd_solver="full").fit(thumbs).transform(thumbs)
    ours = side.transform(X)
    # scikit-learn divides by sqrt(n - 1), ours by sqrt(n); components agree up to sign
    scale = np.sqrt(60 / 59)
    for k in range(5):
        assert np.allclose(np.abs(ours[:, k]), np.abs(ref[:, k]) * scale, atol=1e-3)
    with pytest.raises(ValueError, match="not fitted"):
        PixelPCA(3).transform(X)
    with pytest.raises(ValueError, match="more than"):
        PixelPCA(80).fit(X)


# ----------------------------------------------------------------------------- backfilling orders
def test_uncertainty_order_is_largest_first_with_seeded_ties():
    g = rng.normal(size=(5, 3))
    assert backfill_order(g, uncertainty=[0.1, 3.0, 0.5, 2.0, -1.0]).tolist() == [1, 3, 2, 0, 4]
    ties = [backfill_order(g, uncertainty=[1, 1, 1, 0, 0], seed=s).tolist() for s in range(20)]
    assert all(sorted(t[:3]) == [0, 1, 2] for t in ties) and len({tuple(t) for t in ties}) > 1
    assert sorted(backfill_order(g, method="random", seed=3).tolist()) == list(range(5))
    with pytest.raises(ValueError, match="needs uncertainty"):
        backfill_order(g)
    with pytest.raises(ValueError, match="one per gallery item"):
        backfill_order(g, uncertainty=[1.0, 2.0])
    with pytest.raises(ValueError, match="method"):
        backfill_order(g, method="fastest")


def test_margin_order_matches_a_brute_force_loop():
    g = rng.normal(size=(12, 4))
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    for lab in [None, labels]:
        closest = []
        for i in range(len(g)):
            sims = [g[i] @ g[j] / np.linalg.norm(g[i]) / np.linalg.norm(g[j]) for j in range(len(g))
                    if j != i and (lab is None or lab[j] != lab[i])]
            closest.append(max(sims))
        order = backfill_order(g, method="margin", labels=lab)
        assert sorted(order.tolist()) == list(range(len(g)))
        # mutual nearest neighbours tie, so compare the keys along the order, not the indices
        assert np.all(np.diff(np.array(closest)[order]) <= 1e-12)


def test_distance_order_is_farthest_first():
    new = rng.normal(size=(6, 3))
    transformed = new.copy()
    transformed[4] = -new[4]          # opposite: farthest
    transformed[1] = new[1] + 0.5 * rng.normal(size=3)
    order = backfill_order(new, method="distance", gallery_new=new, gallery_transformed=transformed)
    assert order[:2].tolist() == [4, 1]
    with pytest.raises(ValueError, match="oracle"):
        backfill_order(new, method="distance")


def test_random_order_curve_is_the_core_backfill_curve():
    y = np.repeat(np.arange(8), 4)
    q, go, gn = rng.normal(size=(32, 5)), rng.normal(size=(32, 5)), rng.normal(size=(32, 5))
    fr, acc, area, per_id = ordered_backfill_curve(q, go, gn, y, n_draws=3, seed=2)
    fr2, acc2, area2 = backfill_curve(q, go, gn, y, n_draws=3, seed=2)
    assert np.allclose(fr, fr2) and np.allclose(acc, acc2) and np.isclose(area, area2)
    assert per_id.shape == (8,) and np.isclose(per_id.mean(), area)


def test_curve_ends_are_the_start_and_final_galleries_and_a_good_order_beats_its_reverse():
    n_id, per = 30, 5
    y = np.repeat(np.arange(n_id), per)
    centres = rng.normal(size=(n_id, 16))
    new = centres[y] + 0.3 * rng.normal(size=(len(y), 16))
    broken = rng.random(len(y)) < 0.5                      # half of the stored items are junk
    start = np.where(broken[:, None], rng.normal(size=(len(y), 16)), new + 0.3 * rng.normal(size=(len(y), 16)))
    unc = broken + 0.01 * rng.random(len(y))
    good = order_by("uncertainty", gallery_old=start, uncertainty=unc)
    bad = order_by("uncertainty", gallery_old=start, uncertainty=-unc)
    fr, acc_good, area_good, _ = ordered_backfill_curve(new, start, new, y, order=good, n_draws=2, seed=0)
    _, acc_bad, area_bad, _ = ordered_backfill_curve(new, start, new, y, order=bad, n_draws=2, seed=0)
    assert area_good > area_bad + 0.05
    gi, qi = gallery_split(y, seed=0)
    gi1, qi1 = gallery_split(y, seed=1)
    first = np.mean([cmc(new[q], start[g], y[q], y[g], topk=(1,))[1] for g, q in [(gi, qi), (gi1, qi1)]])
    last = np.mean([cmc(new[q], new[g], y[q], y[g], topk=(1,))[1] for g, q in [(gi, qi), (gi1, qi1)]])
    assert np.isclose(acc_good[0], first) and np.isclose(acc_good[-1], last) and np.isclose(acc_bad[-1], last)
    with pytest.raises(ValueError, match="permutation"):
        ordered_backfill_curve(new, start, new, y, order=lambda gi, s: np.zeros(len(gi), int))
    with pytest.raises(ValueError, match="fractions"):
        ordered_backfill_curve(new, start, new, y, fractions=[0.5])
    with pytest.raises(ValueError, match="one row per test image"):
        order_by("uncertainty", gallery_old=start, uncertainty=unc[:3])


# ----------------------------------------------------------------------------- stationary classifier
@pytest.mark.parametrize("k", [2, 3, 10])
def test_simplex_vertices_are_a_regular_simplex(k):
    W = simplex_vertices(k).double()
    assert W.shape == (k, k - 1)
    expected = k / (k - 1) * (np.eye(k) - np.ones((k, k)) / k)  # Gram matrix of a centred regular simplex
    assert np.allclose((W @ W.T).numpy(), expected, atol=1e-6)
    assert np.allclose(W.sum(0).numpy(), 0, atol=1e-6)
    with pytest.raises(ValueError, match="n_classes"):
        simplex_vertices(1)


def test_simplex_embedder_keeps_its_classifier_fixed_during_training():
    X = rng.normal(size=(120, 6)).astype("float32")
    y = rng.integers(0, 4, size=120)
    model = simplex_embedder(6, (16,), 4, seed=0)
    before = model.weight.detach().clone()
    assert model.weight.shape == (4, 3) and not model.weight.requires_grad
    fit(model, X, y, n_epochs=2, lr=1e-2, batch_size=32, progress=False)
    assert torch.equal(model.weight.detach(), before)
    assert torch.allclose(before, simplex_vertices(4))


def test_average_compatibility_matches_the_iamcl2r_convention():
    M = np.array([[0.50, 0.1, 0.1],
                  [0.50, 0.70, 0.1],     # (1, 0): 0.50 == M[0, 0] is *not* compatible (strict)
                  [0.60, 0.65, 0.80]])   # (2, 0) passes; (2, 1): 0.65 < 0.70 fails
    pairs = compatible_pairs(M)
    assert pairs.tolist() == [[False, False, False], [False, False, False], [True, False, False]]
    # iamcl2r: position[i, j] = M[i][j] <= M[j][j] for i > j; AC = 1 - sum(position) / (T(T-1)/2)
    position = sum(M[i, j] <= M[j, j] for j in range(3) for i in range(j + 1, 3))
    assert np.isclose(average_compatibility(M), 1 - position / 3)
    assert average_compatibility(np.triu(np.ones((4, 4))) + np.tril(2 * np.ones((4, 4)), -1)) == 1.0
    with pytest.raises(ValueError, match="square"):
        average_compatibility(np.ones((2, 3)))


# ----------------------------------------------------------------------------- recipes (tiny)
def test_run_faces_records_agree_with_its_own_embeddings():
    setup = E.FaceSetup().fast()
    setup = type(setup)(**{**E.setup_dict(setup), "widths": (8, 8, 8, 8), "n_test": 8, "n_old": 6,
                           "n_new": 10, "n_per_identity": 4, "n_epochs": 2, "h_epochs": 2, "n_draws": 2,
                           "side_dim": 8})
    records, state = E.run_faces(setup, 0)
    Z, y_test = state["Z"], state["data"]["y_test"]
    names, M, _ = cross_model_matrix(Z, y_test, n_draws=setup.n_draws, seed=0)
    for r in (r for r in records if r["kind"] == "retrieval"):
        assert np.isclose(r["top1"], M[names.index(r["query"]), names.index(r["gallery"])])
    rand = next(r for r in records if r["kind"] == "backfill" and r["start"] == "fastfill" and r["order"] == "random")
    assert np.isclose(rand["area"], backfill_curve(Z["new"], Z["fastfill"], Z["new"], y_test, n_draws=2, seed=0)[2])
    cost = next(r for r in records if r["kind"] == "cost")
    assert cost["flops_transform"] == transformation_flops(state["transforms"]["fct+side"])
    assert state["sigma"].shape == (len(y_test),)
    json.dumps(records)  # tidy: plain JSON-able values


def test_bct_chain_records_reads_the_shipped_chain_only_for_its_setup():
    shipped_recs = json.loads(shipped("chain_results.json").read_text())["records"]
    recs, source = E.bct_chain_records(ChainSetup(), seeds=(0, 2))
    assert source == "shipped"
    assert recs == [r for r in shipped_recs if r["method"] == "bct" and r["seed"] in (0, 2)]
    meta = json.loads(shipped("chain_results.json").read_text())["meta"]["setup"]
    assert E._same_chain(meta, ChainSetup())
    assert not E._same_chain(meta, ChainSetup(bct_lam=3.0))          # a recorded field differs
    assert not E._same_chain(meta, ChainSetup().growing())           # a later field away from its default
    assert not E._same_chain({}, ChainSetup())
    small = ChainSetup().fast()
    recs, source = E.bct_chain_records(small, seeds=(0,))
    assert source == "trained" and {r["method"] for r in recs} == {"bct"}
    assert sum(r["kind"] == "pair" for r in recs) == len(small.sizes) ** 2
