"""The chain of updates (notebook 06): every method trains, the records add up, the tax is paired."""
import numpy as np
import pytest
import torch

from gracekit.chain.experiment import (GROWING_METHODS, METHODS, ChainSetup, MLPEmbedder, chain_records,
                                       interpolate, loo_top1, run_chains, train_chain)
from gracekit.chain.summary import pair_per_seed, summarize_chains, tax_per_seed

TINY = ChainSetup(sizes=(60, 120, 180), n_test=90, hidden=(16, 16), emb_dim=8, n_epochs=2, batch_size=32)


def test_loo_top1_by_hand():
    e = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    assert loo_top1(e, e, [0, 0, 1, 1]) == 1.0
    assert loo_top1(e, e, [0, 1, 0, 1]) == 0.0
    with pytest.raises(ValueError, match="labels"):
        loo_top1(e, e, [0, 1])


def test_interpolate_is_the_weight_average_and_checks_architectures():
    a, b = MLPEmbedder(4, (8,), 3, 2, seed=0), MLPEmbedder(4, (8,), 3, 2, seed=1)
    mid = interpolate(a, b, 0.25)
    for k, w in mid.state_dict().items():
        torch.testing.assert_close(w, 0.25 * a.state_dict()[k] + 0.75 * b.state_dict()[k])
    with pytest.raises(ValueError, match="architecture"):
        interpolate(a, MLPEmbedder(4, (9,), 3, 2), 0.5)
    with pytest.raises(ValueError, match="alpha"):
        interpolate(a, b, 1.5)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_a_chain(method):
    models = train_chain(method, setup=TINY, seed=0)
    assert len(models) == 3
    first = [p.detach().clone() for p in models[0].parameters()]
    if method == "bcwi":  # the last model lies between its predecessor and a fine-tuned copy
        assert not torch.equal(models[2].weight, models[1].weight)
    if method in ("finetune", "bcwi"):  # started from the predecessor: same shapes, different weights
        assert all(p.shape == q.shape for p, q in zip(models[1].parameters(), models[0].parameters()))
    assert all(torch.equal(p, q) for p, q in zip(models[0].parameters(), first))


def test_growing_chain_widens_and_refuses_weight_methods():
    grow = ChainSetup(sizes=(60, 120, 180), n_test=90, emb_dim=8, n_epochs=2, batch_size=32, widths=(8, 16, 24))
    for method in GROWING_METHODS:
        models = train_chain(method, setup=grow, seed=0)
        assert [m.body[0].out_features for m in models] == [8, 16, 24]
    with pytest.raises(ValueError, match="fine-tuned"):
        train_chain("finetune", setup=grow)
    with pytest.raises(ValueError, match="one width per step"):
        train_chain("independent", setup=ChainSetup(sizes=(60, 120), widths=(8,)))
    with pytest.raises(ValueError, match="method"):
        train_chain("nope", setup=TINY)


def test_records_summaries_and_tax():
    recs = run_chains(TINY, seeds=[0, 1], methods=["independent", "bct"], progress=False)
    pairs = [r for r in recs if r["kind"] == "pair"]
    assert len(pairs) == 2 * 2 * 9 and all(0 <= r["top1"] <= 1 for r in pairs)
    S = summarize_chains(recs)
    assert S["bct"]["pair"].shape == (3, 3) and S["bct"]["n_seeds"] == 2
    seeds, tax = tax_per_seed(recs, "bct")
    ind = {(r["seed"], r["step"]): r["self_top1"] for r in recs if r["kind"] == "step" and r["method"] == "independent"}
    got = {(r["seed"], r["step"]): r["self_top1"] for r in recs if r["kind"] == "step" and r["method"] == "bct"}
    assert seeds == [0, 1] and tax[1, 2] == pytest.approx(ind[(1, 3)] - got[(1, 3)])
    assert np.all(tax[:, 0] == 0)  # phi_1 is shared by every method of a seed
    _, gap = pair_per_seed(recs, "bct")
    assert gap.shape == (2, 3) and np.all(gap[:, 0] == 0)
    with pytest.raises(ValueError, match="no 'step' records"):
        tax_per_seed(recs, "fd")


def test_chain_records_flips_match_flip_report():
    from gracekit.metrics import flip_report
    from gracekit.train import predict

    from gracekit.chain.experiment import _data

    X, y, Xt, yt = _data(TINY)
    models = train_chain("independent", setup=TINY, seed=0, data=(X, y, Xt, yt))
    recs = chain_records(models, Xt, yt, method="independent")
    step3 = next(r for r in recs if r["kind"] == "step" and r["step"] == 3)
    p1, p3 = (predict(m, Xt).argmax(1).numpy() for m in (models[0], models[2]))
    assert step3["nfr_first"] == pytest.approx(flip_report(yt, p1, p3)["nfr"])
