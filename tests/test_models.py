import numpy as np
import pytest
import torch
from torch import nn

from gracekit.models import LogitEnsemble, count_params, make_mlp


def test_make_mlp_shapes_and_parameter_count():
    model = make_mlp(20, hidden=(32,), n_out=10)
    assert model(torch.zeros(5, 20)).shape == (5, 10)
    assert count_params(model) == 20 * 32 + 32 + 32 * 10 + 10
    deep = make_mlp(4, hidden=(8, 8), n_out=3, activation="leaky_relu")
    assert isinstance(deep[1], nn.LeakyReLU) and len(deep) == 5
    linear = make_mlp(4, hidden=(), n_out=2)
    assert len(linear) == 1


def test_make_mlp_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = make_mlp(6, (16,), 3, seed=np.int64(4))
    after = torch.rand(1)
    assert torch.equal(before, after)
    b = make_mlp(6, (16,), 3, seed=4)
    c = make_mlp(6, (16,), 3, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)


def test_ensemble_averages_logits():
    x = torch.randn(7, 6)
    members = [make_mlp(6, (16,), 3, seed=s) for s in range(3)]
    ens = LogitEnsemble(members)
    expected = sum(m(x) for m in members) / 3
    assert torch.allclose(ens(x), expected, atol=1e-6)
    assert len(ens) == 3
    assert torch.allclose(LogitEnsemble(members[:1])(x), members[0](x))


def test_bad_inputs():
    with pytest.raises(ValueError, match="n_in"):
        make_mlp(0, (4,), 2)
    with pytest.raises(ValueError, match="hidden"):
        make_mlp(3, (4, -1), 2)
    with pytest.raises(ValueError, match="activation"):
        make_mlp(3, (4,), 2, activation="tanh")
    with pytest.raises(ValueError, match="seed"):
        make_mlp(3, (4,), 2, seed=-1)
    with pytest.raises(ValueError, match="models"):
        LogitEnsemble([])
    with pytest.raises(ValueError, match="different shapes"):
        LogitEnsemble([make_mlp(3, (4,), 2), make_mlp(3, (4,), 5)])(torch.zeros(1, 3))
