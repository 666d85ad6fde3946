import numpy as np
import pytest
import torch

from gracekit.retrieval import (backfill_curve, clustered_se, cmc, cross_model_matrix, gallery_split,
                                leave_one_out_cmc, mean_average_precision, similarity, tar_at_far,
                                topk_by_identity, update_gain)

# three gallery items on the unit circle; hand-worked rankings below
G = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
YG = np.array([0, 1, 2])


def test_cmc_hand_computed():
    q = np.array([[0.9, 0.1], [0.8, 0.6], [-0.1, -1.0]])
    # query 0 (id 0): nearest is item 0 -> rank 0; query 1 (id 1): order 0,1 -> rank 1;
    # query 2 (id 2): similarities -0.1, -1, 0.1 -> order 2,0,1 -> rank 0
    out = cmc(q, G, [0, 1, 2], YG, topk=(1, 2))
    assert out == {1: pytest.approx(2 / 3), 2: pytest.approx(1.0)}
    # lists and torch tensors work too
    assert cmc(torch.tensor(q), G.tolist(), [0, 1, 2], torch.tensor(YG), topk=1) == {1: pytest.approx(2 / 3)}


def test_query_without_match_is_left_out():
    out, hits = cmc([[1.0, 0.0], [0.0, 1.0]], G, [0, 9], YG, topk=1, return_hits=True)
    assert out == {1: 1.0} and hits.shape == (1, 1)
    with pytest.raises(ValueError, match="y_query"):
        cmc([[1.0, 0.0]], G, [9], YG)


def test_dimension_mismatch_truncates_or_pads_the_query():
    q_wide = np.array([[1.0, 0.0, 5.0]])  # truncated to (1, 0)
    assert similarity(q_wide, G)[0].tolist() == pytest.approx([1, 0, -1])
    q_narrow = np.array([[0.0]])
    assert similarity(q_narrow, G, metric="euclidean").shape == (1, 3)


def test_leave_one_out_excludes_self():
    X = np.array([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    y = [0, 0, 1, 1]
    assert leave_one_out_cmc(X, X, y, topk=1) == {1: 1.0}
    Xb = X[[0, 2, 1, 3]]  # a "gallery model" that swaps identities: every query now misses
    assert leave_one_out_cmc(X, Xb, y, topk=1) == {1: 0.0}
    with pytest.raises(ValueError, match="same images"):
        leave_one_out_cmc(X, X[:3], y)


def test_leave_one_out_leaves_singletons_out():
    # identity 2 has one image: it can be neither a hit nor a miss; the other four retrieve perfectly
    y = np.array([0, 0, 1, 1, 2])
    E = np.eye(3)[y]
    assert leave_one_out_cmc(E, E, y, topk=(1, 5)) == {1: 1.0, 5: 1.0}
    # the singleton can still be retrieved by others (image 0's nearest neighbour is image 4, a miss),
    # but it is never a query itself: 3 hits out of 4 queries
    E2 = E.copy()
    E2[1] = [0.9, 0.1, 0.0]
    E2[4] = E[0]
    assert leave_one_out_cmc(E2, E2, y, topk=(1,))[1] == pytest.approx(0.75)


def test_map_hand_computed():
    g = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    # query (1,0) id 0; ranking items 0 (id 1), 1 (id 0), 2 (id 0) -> hits at ranks 2 and 3
    ap = (1 / 2 + 2 / 3) / 2
    assert mean_average_precision([[1.0, 0.0]], g, [0], [1, 0, 0]) == pytest.approx(ap)


def test_tar_at_far():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(50), 4)
    centers = rng.standard_normal((50, 16))
    X = centers[y] + 0.3 * rng.standard_normal((200, 16))
    tar, thr = tar_at_far(X, X, y, y, far=0.01)
    S = similarity(X, X)
    imp = S[y[:, None] != y[None, :]]
    assert np.mean(imp > thr) <= 0.01 + 1e-12
    assert tar > 0.9
    with pytest.raises(ValueError, match="far"):
        tar_at_far(X, X, y, y, far=0)


def test_gallery_split_and_topk_by_identity():
    y = np.repeat(np.arange(5), 4)
    gi, qi = gallery_split(y, n_shot=1, seed=0)
    assert len(gi) == 5 and len(qi) == 15 and sorted(set(y[gi])) == list(range(5))
    rng = np.random.default_rng(1)
    X = np.eye(5)[y] + 0.01 * rng.standard_normal((20, 5))
    ids, s = topk_by_identity(X, X, y, n_draws=3)
    assert ids.tolist() == list(range(5)) and np.allclose(s, 1)
    with pytest.raises(ValueError, match="n_shot"):
        gallery_split(y, n_shot=0)


def test_cross_model_matrix_random_model_is_at_chance():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(40), 5)
    good = np.eye(40)[y] + 0.05 * rng.standard_normal((200, 40))
    rand = rng.standard_normal((200, 24))  # unrelated model, other width
    names, M, per = cross_model_matrix({"good": good, "rand": rand}, y, n_draws=3)
    assert names == ["good", "rand"] and M[0, 0] == 1.0
    chance = 1 / 40
    se = clustered_se(per[("good", "rand")])
    assert abs(M[0, 1] - chance) < 3 * se + 0.02
    assert per[("rand", "good")].shape == (40,)


def test_update_gain():
    assert update_gain(0.55, 0.50, 0.70) == pytest.approx(0.25)
    assert update_gain(0.555, 0.524, 0.620) == pytest.approx(0.3229, abs=1e-3)  # openBCT ImageNet top-1
    from gracekit.validation import UndefinedRatioWarning

    with pytest.warns(UndefinedRatioWarning, match="no gain to share"):
        assert np.isnan(update_gain(0.5, 0.6, 0.6))
    assert update_gain(0.5, 0.6, 0.6, zero_division=0.0) == 0.0
    with pytest.raises(ValueError, match="finite"):
        update_gain(np.nan, 0.5, 0.6)


def test_backfill_curve_ends():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(20), 4)
    new = np.eye(20)[y] + 0.01 * rng.standard_normal((80, 20))
    old = rng.standard_normal((80, 8))  # incompatible old gallery
    fr, acc, area = backfill_curve(new, old, new, y, fractions=[0, 0.5, 1], n_draws=2)
    assert acc[-1] == 1.0 and acc[0] < 0.3 and acc[0] < acc[1] < acc[2]
    assert area == pytest.approx((acc[0] + 2 * acc[1] + acc[2]) / 4)
    with pytest.raises(ValueError, match="fractions"):
        backfill_curve(new, old, new, y, fractions=[1.5])


def test_clustered_se():
    v = np.array([1.0, 0.0, 1.0, 0.0])
    assert clustered_se(v) == pytest.approx(np.std(v, ddof=1) / 2)
    # perfectly correlated within clusters: same SE as the two cluster means
    assert clustered_se(v[[0, 0, 1, 1]], [0, 0, 1, 1]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="clusters"):
        clustered_se(v, [0, 0, 0, 0])


@pytest.mark.parametrize("bad, match", [([[np.nan, 0.0]], "queries"), (np.zeros((0, 2)), "queries"),
                                        (np.zeros(3), "queries")])
def test_bad_embeddings(bad, match):
    with pytest.raises(ValueError, match=match):
        cmc(bad, G, [0], YG)


def test_bad_labels_and_metric():
    with pytest.raises(ValueError, match="y_gallery"):
        cmc(G, G, YG, [0, 1])
    with pytest.raises(ValueError, match="metric"):
        similarity(G, G, metric="hamming")
    with pytest.raises(ValueError, match="topk"):
        cmc(G, G, YG, YG, topk=0)
