import numpy as np
import pytest
import torch

from gracekit.models import FaceEmbedder, embed

from gracekit.embedding_losses import margin_loss
from gracekit.bct.faces import make_faces
from gracekit.retrieval import clustered_se, topk_by_identity
from gracekit.train import fit, fit_cached


def test_shapes_and_unit_embedding():
    torch.manual_seed(0)
    m = FaceEmbedder(7, emb_dim=12, widths=(4, 8), in_size=16).eval()
    x = torch.rand(5, 64, 64)
    logits = m(x)
    assert logits.shape == (5, 7)
    z = m.embed(x)
    assert z.shape == (5, 12) and torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.all(logits.abs() <= m.scale + 1e-4)  # logits are s * cosine
    assert embed(m, np.random.rand(3, 1, 32, 32)).shape == (3, 12)


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = FaceEmbedder(5, seed=7)
    after = torch.rand(1)
    b = FaceEmbedder(5, seed=7)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert torch.equal(before, after)  # the global random state is not consumed
    assert not torch.equal(FaceEmbedder(5, seed=8).weight, a.weight)


def test_augmentation_only_in_training_mode():
    torch.manual_seed(0)
    m = FaceEmbedder(3, widths=(4, 8), in_size=16)
    x = torch.rand(4, 32, 32)
    m.eval()
    assert torch.equal(m.embed(x), m.embed(x))
    m.train()
    m(x)
    assert m.last_input.shape == (4, 1, 32, 32) and not torch.equal(m.last_input[:, 0], x)
    assert m.last_embedding.requires_grad


def test_margin_loss_hand_computed():
    logits = torch.tensor([[8.0, 0.0]])
    y = torch.tensor([0])
    expected = torch.nn.functional.cross_entropy(torch.tensor([[8.0 - 16 * 0.25, 0.0]]), y)
    assert torch.isclose(margin_loss(margin=0.25, scale=16.0)(logits, y), expected)
    with pytest.raises(ValueError, match="margin"):
        margin_loss(margin=-1)


@pytest.mark.parametrize("kwargs, match", [(dict(n_classes=-1), "n_classes"), (dict(n_classes=3, emb_dim=0), "emb_dim"),
                                           (dict(n_classes=3, widths=(4,) * 6, in_size=32), "widths")])
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FaceEmbedder(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match="x must have shape"):
        FaceEmbedder(2).eval()(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="X"):
        embed(FaceEmbedder(2), np.zeros((0, 32, 32)))


def test_trained_embedder_retrieves_unseen_identities_far_above_chance():
    """Open set at a tiny size: 30 train identities, 20 unseen test identities (chance = 0.05)."""
    tr = make_faces(30, 8, difficulty=0.6, size=32, seed=0)
    te = make_faces(identities=range(100, 120), n_per_identity=6, difficulty=0.6, size=32, seed=0)
    model = fit_cached(lambda: FaceEmbedder(30, emb_dim=32, widths=(8, 16, 16), in_size=32, seed=0),
                       tr.images, tr.identity,
                       key={"name": "test-embedder"}, n_epochs=6, lr=3e-3, batch_size=32, seed=0,
                       loss_fn=margin_loss(margin=0.2), progress=False)
    z = embed(model, te.images)
    _, s = topk_by_identity(z, z, te.identity, n_draws=3)
    assert s.mean() - 0.05 > 3 * clustered_se(s) and s.mean() > 0.3
    # raw pixels are a weaker baseline on the same protocol
    raw = te.images.reshape(len(te.images), -1)
    _, s_raw = topk_by_identity(raw - raw.mean(0), raw - raw.mean(0), te.identity, n_draws=3)
    assert s.mean() > s_raw.mean()


def test_fit_runs_with_embedder():
    X = torch.rand(16, 32, 32)
    y = torch.arange(16) % 4
    m = fit(FaceEmbedder(4, widths=(4, 8), in_size=16), X, y, n_epochs=1, batch_size=8,
            loss_fn=margin_loss(), progress=False)
    assert not m.training
