"""Tests of gracekit.lqf.linearize, gracekit.lqf.solver and gracekit.lqf.kfac on tiny problems (seconds)."""
import numpy as np
import pytest
import torch
from torch import nn

from gracekit.lqf import kfac as kfac
from gracekit.lqf.linearize import Linearized, linearize
from gracekit.lqf.solver import LQF, linear_probe, make_lqf_mlp, one_hot_targets, transfer_model


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(n=24, d=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = np.arange(n) % k
    return X, y


def tiny_model(activation="leaky_relu", seed=0, hidden=(8, 8), k=3):
    return make_lqf_mlp(5, hidden, k, activation=activation, seed=seed)


def test_linearized_equals_model_at_w0():
    model = tiny_model("relu")
    X, _ = tiny()
    lin = linearize(model)
    expected = model.double()(torch.as_tensor(X, dtype=torch.float64))
    torch.testing.assert_close(lin(X), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin(X, torch.zeros(lin.n_params)), expected, rtol=1e-12, atol=1e-12)


def test_linearized_is_first_order_taylor_expansion():
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    X, _ = tiny()
    lin = linearize(model)
    v = torch.randn(lin.n_params, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    errors = []
    for eps in (1e-3, 5e-4, 2.5e-4):
        moved = {n: p + eps * d for (n, p), d in zip(lin.params0.items(), lin.unflatten(v).values())}
        exact = torch.func.functional_call(lin.model, moved, (torch.as_tensor(X, dtype=torch.float64),))
        errors.append(float((exact - lin(X, eps * v)).abs().max()))
    # second-order remainder: halving eps divides the error by about 4
    assert 3.5 < errors[0] / errors[1] < 4.5 and 3.5 < errors[1] / errors[2] < 4.5
    # and the first-order term matters: f(w0 + eps v) differs from f(w0) by O(eps) >> the remainder
    assert float((lin(X, 1e-3 * v) - lin(X)).abs().max()) > 50 * errors[0]


def test_jacobian_jvp_vjp_and_kernel_agree():
    X, _ = tiny()
    lin = linearize(tiny_model())
    J = lin.jacobian(X, chunk=7)
    n, k = len(X), 3
    assert J.shape == (n * k, lin.n_params)
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(lin.n_params, generator=gen, dtype=torch.float64)
    u = torch.randn(n, k, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(lin.jvp(X, v).reshape(-1), J @ v)
    torch.testing.assert_close(lin.vjp(X, u), J.T @ u.reshape(-1))
    torch.testing.assert_close(lin.kernel(X), J @ J.T)
    X2 = X[:5] + 0.5
    torch.testing.assert_close(lin.kernel(X2, X), lin.jacobian(X2) @ J.T)


def test_kernel_falls_back_to_jacobian_for_other_layers():
    model = nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.Tanh(), nn.Linear(8, 3))
    X, _ = tiny()
    lin = linearize(model)
    assert lin.linear_layer_grads(X) is None
    J = lin.jacobian(X)
    torch.testing.assert_close(lin.kernel(X), J @ J.T)


def test_exact_solution_satisfies_normal_equations():
    X, y = tiny()
    m = LQF(tiny_model(), ridge=0.05, target_scale=15.0).fit(X, y)
    J = m.lin_.jacobian(X)
    r = (one_hot_targets(y, 3, scale=15.0) - m.lin_(X)).reshape(-1)
    lhs = (J.T @ J + len(X) * 0.05 * torch.eye(J.shape[1], dtype=J.dtype)) @ m.delta_
    torch.testing.assert_close(lhs, J.T @ r, rtol=1e-9, atol=1e-9)
    assert float(m.gradient(m.delta_).norm()) < 1e-9
    # any other point has a higher loss
    other = m.delta_ + 1e-3 * torch.randn(m.delta_.shape, dtype=m.delta_.dtype)
    assert m.loss(other) > m.optimal_loss_


def test_exact_solution_ignores_data_order():
    X, y = tiny()
    model = tiny_model()
    a = LQF(model, ridge=0.05).fit(X, y)
    perm = np.random.default_rng(3).permutation(len(X))
    b = LQF(model, ridge=0.05).fit(X[perm], y[perm])
    torch.testing.assert_close(a.delta_, b.delta_, rtol=1e-9, atol=1e-10)
    Xq, _ = tiny(50, seed=9)
    assert (a.predict(Xq) == b.predict(Xq)).all()


def test_set_ridge_equals_refit():
    X, y = tiny()
    model = tiny_model()
    a = LQF(model, ridge=0.05).fit(X, y).set_ridge(0.2)
    b = LQF(model, ridge=0.2).fit(X, y)
    torch.testing.assert_close(a.delta_, b.delta_)


def test_gd_and_kfac_converge_to_the_optimum():
    X, y = tiny()
    m = LQF(tiny_model(), ridge=0.05).fit(X, y)
    gd = kfac.descend(m, n_steps=400, method="gd", step_scale=1.9)
    assert np.all(np.diff(gd["gap"]) <= 1e-12) and gd["gap"][-1] < 0.05
    # the closed-form GD curve equals the iterates
    np.testing.assert_allclose(kfac.gd_closed_form(m, gd["lr"], [0, 10, 100, 400]),
                               gd["gap"][[0, 10, 100, 400]], rtol=1e-6, atol=1e-12)
    torch.testing.assert_close(kfac.gd_closed_form_delta(m, gd["lr"], 400), gd["delta"], rtol=1e-6, atol=1e-9)
    kf = kfac.descend(m, n_steps=3000, method="kfac", damping=0.1, step_scale=1.0, tol=1e-6)
    assert kf["gap"][-1] < 1e-6 and kfac.gd_steps_to_gap(m, gd["lr"], tol=1e-3) is not None
    torch.testing.assert_close(m.lin_(X, kf["delta"]), m.decision_function(X), rtol=0, atol=1e-2)
    ad = kfac.descend(m, n_steps=200, lr=1e-2, method="adam")
    assert ad["gap"][-1] < 0.5 * ad["gap"][0]
    ce = kfac.descend(m, n_steps=50, method="gd", loss="ce")
    assert ce["loss"][-1] < ce["loss"][0] and np.isnan(ce["gap"]).all()


def test_closed_form_leave_one_out_equals_brute_force_refits():
    X, y = tiny(n=18)
    model = tiny_model(seed=2)
    ridge, n = 0.05, len(X)
    m = LQF(model, ridge=ridge).fit(X, y)
    loo = m.leave_one_out()
    Xq, _ = tiny(4, seed=5)
    infl = m.influence(Xq)
    assert infl.shape == (n, 4, 3)
    full_q = m.decision_function(Xq)
    for i in range(n):
        keep = np.arange(n) != i
        refit = LQF(model, ridge=ridge * n / (n - 1)).fit(X[keep], y[keep])
        brute = refit.decision_function(X[i:i + 1])[0]
        assert float((loo[i] - brute).norm() / brute.norm()) < 1e-6
        change = full_q - refit.decision_function(Xq)
        assert float((infl[i] - change).norm() / change.norm()) < 1e-6


def test_kfac_preconditioner_is_exact_for_a_single_linear_layer():
    # one Linear layer: J^T J / N = A (x) G exactly, so damped K-FAC solves H x = g almost exactly
    X, y = tiny()
    m = LQF(nn.Linear(5, 3), ridge=1e-6).fit(X, y)
    P = kfac.KFACPreconditioner(m, damping=1e-9)
    g = m.gradient(torch.zeros(m.lin_.n_params, dtype=torch.float64))
    step = P(g)
    Hstep = m.gradient(step) - g
    torch.testing.assert_close(Hstep, g, rtol=1e-3, atol=1e-6)


def test_transfer_model_and_probe():
    X, y = tiny()
    src = tiny_model("relu")
    new = transfer_model(src, 4, head_std=0.3, seed=1)
    assert new[-1].out_features == 4 and abs(float(new[-1].weight.detach().std()) - 0.3) < 0.15
    assert torch.equal(new[0].weight, src[0].weight) and new[0].weight is not src[0].weight
    W, b, predict = linear_probe(src, X, y)
    assert W.shape == (3, 8) and b.shape == (3,) and predict(X).shape == (len(X),)
    probed = transfer_model(src, 3, head=(W, b))
    assert (probed(torch.as_tensor(X)).argmax(1).numpy() == predict(X)).mean() > 0.95
    leaky = make_lqf_mlp(5, (8,), 3, activation="leaky_relu", negative_slope=0.2)
    assert leaky[1].negative_slope == 0.2


def test_bad_inputs_raise_clear_errors():
    X, y = tiny()
    model = tiny_model()
    with pytest.raises(ValueError, match="ridge"):
        LQF(model, ridge=0)
    with pytest.raises(ValueError, match="target_scale"):
        LQF(model, target_scale=-1)
    with pytest.raises(ValueError, match="y must hold labels"):
        LQF(model).fit(X, y + 5)
    with pytest.raises(ValueError, match="y must hold one label"):
        LQF(model).fit(X, y[:-1])
    Xnan = X.copy()
    Xnan[0, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        LQF(model).fit(Xnan, y)
    with pytest.raises(ValueError, match="X must have shape"):
        LQF(model).fit(X[0], y)
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        Linearized("not a model")
    lin = linearize(model)
    with pytest.raises(ValueError, match="delta must be a vector"):
        lin(X, torch.zeros(3))
    with pytest.raises(ValueError, match="activation"):
        make_lqf_mlp(activation="tanh")
    with pytest.raises(ValueError, match="pretrained"):
        transfer_model(nn.Linear(3, 2), 2)
    with pytest.raises(ValueError, match="head_std"):
        transfer_model(model, 2, head_std=-1)
    with pytest.raises(ValueError, match="scale"):
        one_hot_targets([0, 1], 2, scale=0)
    m = LQF(model).fit(X, y)
    with pytest.raises(ValueError, match="method"):
        kfac.descend(m, method="newton")
    with pytest.raises(ValueError, match="lr must be given"):
        kfac.descend(m, method="adam")
    with pytest.raises(ValueError, match="damping"):
        kfac.KFACPreconditioner(m, damping=0)
    with pytest.raises(ValueError, match="fitted"):
        kfac.descend(LQF(model))
    with pytest.raises(RuntimeError, match="fit"):
        LQF(model).leave_one_out()


def test_cross_entropy_gets_its_own_curvature():
    # the CE Hessian J^T S J / N + ridge I, built densely, has the top eigenvalue that power iteration finds
    X, y = tiny()
    m = LQF(tiny_model(), ridge=0.05).fit(X, y)
    J = m.lin_.jacobian(X)
    S = kfac.softmax_curvature(m)
    assert S.shape == (len(X), 3, 3)
    torch.testing.assert_close(S.sum(2), torch.zeros(len(X), 3, dtype=S.dtype), rtol=0, atol=1e-12)
    H_ce = J.T @ torch.block_diag(*S) @ J / len(X) + 0.05 * torch.eye(J.shape[1], dtype=J.dtype)
    H_mse = J.T @ J / len(X) + 0.05 * torch.eye(J.shape[1], dtype=J.dtype)
    top_ce = float(torch.linalg.eigvalsh(H_ce)[-1])
    assert kfac.top_eigenvalue(m, loss="ce", n_iter=300) == pytest.approx(top_ce, rel=1e-3)
    assert kfac.top_eigenvalue(m, n_iter=300) == pytest.approx(float(torch.linalg.eigvalsh(H_mse)[-1]), rel=1e-3)
    assert top_ce < 0.6 * float(torch.linalg.eigvalsh(H_mse)[-1])  # softmax curvature is at most 1/2
    # with one Linear layer the output derivatives are the identity, so CE's factor G is the mean softmax
    # Hessian (and the squared loss's is the identity)
    lin1 = LQF(nn.Linear(5, 3), ridge=1e-6).fit(X, y)
    S1 = kfac.softmax_curvature(lin1)
    torch.testing.assert_close(kfac.KFACPreconditioner(lin1, loss="ce").layers[0]["G"], S1.mean(0))
    torch.testing.assert_close(kfac.KFACPreconditioner(lin1).layers[0]["G"], torch.eye(3, dtype=S1.dtype))
    with pytest.raises(ValueError, match="loss"):
        kfac.top_eigenvalue(m, loss="hinge")


def test_refit_reuses_the_kernel_and_equals_a_new_fit():
    X, y = tiny(n=20)
    model = tiny_model(seed=3)
    m = LQF(model, ridge=0.05).fit(X, y)
    keep = np.arange(20) != 4
    y2 = (y + 1) % 3
    for kwargs, ref in (({"keep": keep}, LQF(model, ridge=0.05).fit(X[keep], y[keep])),
                        ({"y": y2}, LQF(model, ridge=0.05).fit(X, y2)),
                        ({"target_scale": 2.0}, LQF(model, ridge=0.05, target_scale=2.0).fit(X, y))):
        torch.testing.assert_close(m.refit(**kwargs).delta_, ref.delta_)
    torch.testing.assert_close(m.refit().delta_, m.delta_)  # the original is left as it was
    with pytest.raises(ValueError, match="keep"):
        m.refit(keep=np.array([], dtype=int))
    with pytest.raises(ValueError, match="y must hold one label"):
        m.refit(y=y[:5])
