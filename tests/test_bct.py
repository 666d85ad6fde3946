import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gracekit.embedding_losses import (cosine_distill_loss, cosine_term, influence_loss, influence_term, l2_compat_loss, l2_term,
                          match_dim, synthesize_weights)
from gracekit.models import FaceEmbedder, embed
from gracekit.embedding_losses import margin_loss
from gracekit.bct.faces import make_faces
from gracekit.retrieval import clustered_se, topk_by_identity
from gracekit.train import fit_cached


def test_match_dim_truncates_and_pads():
    e = torch.tensor([[3.0, 4.0, 12.0]])
    assert torch.allclose(match_dim(e, 2), torch.tensor([[0.6, 0.8]]))
    assert torch.allclose(match_dim(e, 2, normalize=False), torch.tensor([[3.0, 4.0]]))
    padded = match_dim(torch.tensor([[1.0, 0.0]]), 4)
    assert padded.tolist() == [[1.0, 0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="dim"):
        match_dim(e, 0)
    with pytest.raises(ValueError, match="emb"):
        match_dim(torch.zeros(3), 2)


def test_synthesize_weights_keeps_old_rows_and_means_new_classes():
    old_emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1, 2])
    old_w = torch.tensor([[0.0, -3.0]])  # class 0 has an old row
    W = synthesize_weights(old_emb, y, n_classes=3, old_weight=old_w)
    assert torch.allclose(W[0], torch.tensor([0.0, -1.0]))  # the old row, normalized
    assert torch.allclose(W[1], torch.tensor([0.0, 1.0]))  # mean of (0,1) and (0,1)
    assert torch.allclose(W[2], torch.tensor([2 ** -0.5, 2 ** -0.5]))
    assert not W.requires_grad
    with pytest.raises(ValueError, match="no training images for new classes \\[3\\]"):
        synthesize_weights(old_emb, y, n_classes=4)
    with pytest.raises(ValueError, match="old_weight"):
        synthesize_weights(old_emb, y, n_classes=3, old_weight=torch.zeros(1, 5))
    with pytest.raises(ValueError, match="y must"):
        synthesize_weights(old_emb, y[:2])


def test_influence_loss_hand_computed_and_label_map():
    W = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z = torch.tensor([[1.0, 0.0, 7.0]], requires_grad=True)  # truncated to (1, 0)
    loss = influence_loss(z, [0], W, scale=4.0)
    expected = F.cross_entropy(torch.tensor([[4.0, 0.0]]), torch.tensor([0]))
    assert torch.isclose(loss, expected)
    loss.backward()
    assert z.grad is not None and z.grad[0, 2] == 0  # dims beyond d_old get no gradient
    # samples whose class has no old row are left out; none left -> zero
    z2 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    assert torch.isclose(influence_loss(z2, [0, 5], W, scale=4.0), expected)
    assert influence_loss(z2, [5, 6], W) == 0
    with pytest.raises(ValueError, match="y must"):
        influence_loss(z2, [0], W)
    with pytest.raises(ValueError, match="weight_old"):
        influence_loss(z2, [0, 1], torch.tensor([[np.nan, 0.0]]))


def test_l2_and_cosine_losses():
    new = torch.tensor([[1.0, 0.0, 0.0]])
    old = torch.tensor([[0.0, 2.0]])
    assert torch.isclose(l2_compat_loss(new, old), torch.tensor(2.0))
    assert torch.isclose(cosine_distill_loss(new, old), torch.tensor(1.0))
    assert l2_compat_loss(old, old) == 0
    with pytest.raises(ValueError, match="emb_old"):
        l2_compat_loss(new, torch.zeros(2, 2))


def test_terms_validate():
    with pytest.raises(ValueError, match="lam"):
        influence_term(torch.eye(2), lam=-1)
    with pytest.raises(ValueError, match="old"):
        l2_term(torch.nn.Linear(2, 2))
    m = FaceEmbedder(2, widths=(4,), in_size=8).train()
    old = FaceEmbedder(2, emb_dim=8, widths=(4,), in_size=8)
    xb, yb = torch.rand(3, 16, 16), torch.tensor([0, 1, 1])
    m(xb)
    for term in (l2_term(old, lam=2.0), cosine_term(old), influence_term(torch.eye(8)[:2], lam=1.0)):
        val = term(out_new=None, out_old=None, xb=xb, yb=yb, model=m)
        assert val.ndim == 0 and val.requires_grad


def test_bct_makes_new_queries_search_the_old_gallery():
    """Tiny open-set run: independent new->old retrieval is near chance, BCT's is far above it."""
    kw = dict(difficulty=0.5, size=32, seed=0)
    tr = make_faces(40, 8, **kw)
    te = make_faces(identities=range(200, 230), n_per_identity=5, **kw)
    arch = dict(emb_dim=32, widths=(8, 16, 16), in_size=32)
    fitkw = dict(n_epochs=12, lr=3e-3, batch_size=32, seed=0, loss_fn=margin_loss(margin=0.2), progress=False)
    o = tr.identity < 20
    old = fit_cached(lambda: FaceEmbedder(20, **arch, seed=0), tr.images[o], tr.identity[o], key={"name": "t-old"},
                     **fitkw)
    W = synthesize_weights(embed(old, tr.images), tr.identity, n_classes=40, old_weight=old.weight.detach())
    indep = fit_cached(lambda: FaceEmbedder(40, **arch, seed=1), tr.images, tr.identity, key={"name": "t-new"}, **fitkw)
    bct = fit_cached(lambda: FaceEmbedder(40, **arch, seed=1), tr.images, tr.identity, key={"name": "t-bct"},
                     extra_loss=influence_term(W, lam=2.0, margin=0.2), **fitkw)
    z_old, z_ind, z_bct = (embed(m, te.images) for m in (old, indep, bct))
    _, s_ind = topk_by_identity(z_ind, z_old, te.identity, n_draws=3)
    _, s_bct = topk_by_identity(z_bct, z_old, te.identity, n_draws=3)
    d = s_bct - s_ind
    assert d.mean() > 3 * clustered_se(d)
    assert s_ind.mean() < 1 / 30 + 3 * clustered_se(s_ind) + 0.01  # independent: at chance (1/30)
