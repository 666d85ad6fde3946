"""The training loop: reproducible from its seed, validated up front, old models frozen."""
import pytest
import torch

from gracekit.models import make_mlp
from gracekit.train import fit, predict


def _data(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=g)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).long()


def _weights(m):
    return torch.cat([p.detach().flatten() for p in m.parameters()])


def test_same_seed_same_model_other_seed_other_model():
    X, y = _data()
    kw = dict(n_epochs=3, lr=0.05, batch_size=16, progress=False)
    a = fit(make_mlp(5, (8,), 2, seed=0), X, y, seed=1, **kw)
    b = fit(make_mlp(5, (8,), 2, seed=0), X, y, seed=1, **kw)
    c = fit(make_mlp(5, (8,), 2, seed=0), X, y, seed=2, **kw)
    assert torch.equal(_weights(a), _weights(b))
    assert not torch.equal(_weights(a), _weights(c))  # another batch order
    assert not a.training and (predict(a, X).argmax(1) == y).float().mean() > 0.8


@pytest.mark.parametrize("kw, match", [
    (dict(n_epochs=0), "n_epochs"), (dict(n_epochs=2.5), "n_epochs"), (dict(batch_size=0), "batch_size"),
    (dict(lr=0.0), "lr"), (dict(lr=float("nan")), "lr"), (dict(weight_decay=-1.0), "weight_decay"),
    (dict(optimizer="rmsprop"), "optimizer"),
])
def test_bad_settings_name_the_argument(kw, match):
    X, y = _data(20)
    with pytest.raises(ValueError, match=match):
        fit(make_mlp(5, (4,), 2), X, y, progress=False, **kw)


def test_old_model_is_frozen_and_extra_loss_sees_both_outputs():
    X, y = _data(40)
    old = make_mlp(5, (4,), 2, seed=3)
    before = _weights(old).clone()
    seen = []

    def extra(out_new, out_old, xb, yb, model):
        seen.append((out_new.shape, out_old.shape, out_old.requires_grad))
        return ((out_new - out_old) ** 2).mean()

    fit(make_mlp(5, (4,), 2), X, y, n_epochs=1, batch_size=20, old=old, extra_loss=extra, progress=False)
    assert torch.equal(_weights(old), before)
    assert seen == [(torch.Size([20, 2]), torch.Size([20, 2]), False)] * 2
