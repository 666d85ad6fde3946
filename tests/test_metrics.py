import numpy as np
import pytest
import torch

from gracekit import metrics as M


def random_case(seed, n=500, k=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    old = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))
    new = np.where(rng.random(n) < 0.7, y, rng.integers(0, k, n))
    return y, old, new


def test_hand_computed_case():
    y_true = [0, 1, 2, 1, 0]
    y_old = [0, 1, 1, 1, 2]   # right, right, wrong, right, wrong
    y_new = [0, 2, 2, 1, 0]   # right, wrong, right, right, right
    assert M.negative_flip_rate(y_true, y_old, y_new) == pytest.approx(1 / 5)
    assert M.positive_flip_rate(y_true, y_old, y_new) == pytest.approx(2 / 5)
    assert M.error_rate(y_true, y_old) == pytest.approx(2 / 5)
    assert M.relative_nfr(y_true, y_old, y_new) == pytest.approx(0.2 / (0.6 * 0.2))
    assert M.negative_flip_impact(y_true, y_old, y_new) == pytest.approx(1.0)
    assert M.backward_trust_compatibility(y_true, y_old, y_new) == pytest.approx(2 / 3)
    assert M.backward_error_compatibility(y_true, y_old, y_new) == pytest.approx(0.0)
    assert M.disagreement_rate(y_old, y_new) == pytest.approx(3 / 5)
    rep = M.flip_report(y_true, y_old, y_new)
    assert rep.counts["negative_flips"] == 1 and rep.counts["positive_flips"] == 2
    assert rep.per_class[1] == {"n": 2, "negative_flips": 1, "positive_flips": 0}
    assert rep.per_class[2]["positive_flips"] == 1
    assert "negative flips (NFR)" in str(rep)


@pytest.mark.parametrize("seed", range(20))
def test_identity_and_bounds(seed):
    y, old, new = random_case(seed)
    r = M.flip_report(y, old, new)
    # exact identity, computed from counts: NFR - PFR = Err_new - Err_old
    c = r.counts
    assert c["negative_flips"] - c["positive_flips"] == c["new_wrong"] - c["old_wrong"]
    assert r["nfr"] - r["pfr"] == pytest.approx(r["err_new"] - r["err_old"], abs=1e-12)
    e_old, e_new = r["err_old"], r["err_new"]
    assert max(0, e_new - e_old) - 1e-12 <= r["nfr"] <= min(e_new, 1 - e_old) + 1e-12
    assert max(0, e_old - e_new) - 1e-12 <= r["pfr"] <= min(e_old, 1 - e_new) + 1e-12
    assert r["disagreement"] >= r["nfr"] + r["pfr"] - 1e-12
    assert r["relative_nfr"] == pytest.approx((1 - r["btc"]) / e_new)
    assert r["nfi"] == pytest.approx(r["nfr"] / e_new)


def test_binary_disagreement_equals_flips():
    y, old, new = random_case(3, k=2)
    r = M.flip_report(y, old, new)
    assert r["disagreement"] == pytest.approx(r["nfr"] + r["pfr"])


def test_scores_torch_and_lists_agree():
    y, old, new = random_case(1, k=3)
    rng = np.random.default_rng(0)
    s_old = np.eye(3)[old] + 0.1 * rng.random((len(old), 3))
    s_new = torch.tensor(np.eye(3)[new] + 0.1 * rng.random((len(new), 3)))
    a = M.negative_flip_rate(list(y), list(old), list(new))
    b = M.negative_flip_rate(torch.tensor(y), s_old, s_new)
    assert a == b
    assert M.flip_report(y, s_old, s_new).as_dict()["nfr"] == a


def test_undefined_ratios_are_nan():
    y = [0, 1, 0]
    assert np.isnan(M.relative_nfr(y, y, y))          # new model never wrong
    assert np.isnan(M.backward_error_compatibility(y, y, y))


@pytest.mark.parametrize("args, match", [
    (([0, 1], [0, 1, 1], [0, 1]), "same length"),
    (([], [], []), "empty"),
    (([0, 1], [0, -1], [0, 1]), "y_old.*negative"),
    (([0, 1], [[0.1, np.nan], [0.3, 0.2]], [0, 1]), "y_old scores contain NaN"),
    (([[0], [1]], [0, 1], [0, 1]), "y_true must be 1-D"),
    (([0, 1], [[[0]], [[1]]], [0, 1]), "y_old must be labels"),
    (([0, 2], [[0.9, 0.1], [0.2, 0.8]], [0, 1]), "y_true has label 2 outside"),
    (([0, 1], [0.5, 1.0], [0, 1]), "y_old must hold integer"),
    (([0, 1], np.ones((2, 3)), np.ones((2, 4))), "different numbers of classes"),
    (([0, 1], ["a", "b"], [0, 1]), "y_old must hold integer"),
])
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        M.flip_report(*args)


def test_flip_report_n_classes():
    rep = M.flip_report([0, 1], [0, 1], [1, 1], n_classes=5)
    assert rep.n_classes == 5 and set(rep.per_class) == set(range(5))
    with pytest.raises(ValueError, match="n_classes"):
        M.flip_report([0, 3], [0, 1], [1, 1], n_classes=2)


def test_undefined_ratios_warn_once_the_same_way_everywhere():
    """One rule for undefined ratios (as scikit-learn's zero_division): NaN with a warning, or a chosen value."""
    import warnings

    from gracekit.retrieval import update_gain
    from gracekit.validation import UndefinedRatioWarning

    y = [0, 1, 1]
    for f, args in [(M.relative_nfr, (y, y, y)), (M.negative_flip_impact, (y, y, y)),
                    (M.backward_error_compatibility, (y, y, y)),
                    (M.backward_trust_compatibility, ([0, 1, 1], [1, 0, 0], [0, 1, 1])),
                    (update_gain, (0.5, 0.6, 0.6))]:
        with pytest.warns(UndefinedRatioWarning, match="undefined because"):
            assert np.isnan(f(*args))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert f(*args, zero_division=1.0) == 1.0
    with pytest.warns(UndefinedRatioWarning, match="relative NFR"):
        rep = M.flip_report(y, y, y)
    assert np.isnan(rep["relative_nfr"]) and rep["btc"] == 1.0
    assert M.flip_report(y, y, y, zero_division=0.0)["nfi"] == 0.0
    with pytest.raises(ValueError, match="zero_division"):
        M.relative_nfr(y, y, y, zero_division="ignore")


def test_flip_masks_are_the_four_cells():
    masks = M.flip_masks([0, 1, 1, 0], [0, 0, 1, 1], [1, 1, 1, 0])
    assert masks["negative"].tolist() == [True, False, False, False]
    assert masks["positive"].tolist() == [False, True, False, True]
    assert masks["both_right"].tolist() == [False, False, True, False]
    assert not masks["both_wrong"].any()
