import importlib.util
import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gracekit.cache import load_torch, save_torch
from gracekit.scale.ddp import dist_info, evaluate_update, fit_ddp, flip_metric, report_from_counts, update_counts
from gracekit.losses import focal_distillation
from gracekit.metrics import flip_report
from gracekit.models import make_mlp
from gracekit.train import predict

# gracekit.scale.cli (and through gracekit.sweeps, scikit-learn) is imported inside the tests that use it,
# so that the processes spawned below start quickly.
REPO = Path(__file__).resolve().parents[1]
_HAVE_TORCHMETRICS = importlib.util.find_spec("torchmetrics") is not None  # optional outside the test extras


def _blobs(n, seed, k=4, d=8):
    """Gaussian classes around fixed centres, made with torch alone."""
    centres = 1.2 * torch.randn(k, d, generator=torch.Generator().manual_seed(99))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (n,), generator=g)
    return centres[y] + torch.randn(n, d, generator=g), y


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.values(), b.values())) and a.keys() == b.keys()


def _experiment(folder):
    """Old model, new model with FD-LM, flip counts, and a run stopped after 2 epochs then resumed."""
    torch.set_num_threads(1)
    (X, y), (X_test, y_test) = _blobs(256, 0), _blobs(601, 1)
    old = fit_ddp(make_mlp(8, (16,), 4, seed=1), X[:128], y[:128], n_epochs=3, lr=0.05, batch_size=32, seed=1,
                  progress=False)
    kw = dict(n_epochs=4, lr=0.05, batch_size=32, seed=0, old=old, extra_loss=_fd_lm,
              progress=False)
    new = fit_ddp(make_mlp(8, (32,), 4, seed=0), X, y, **kw)
    rep = evaluate_update(old, new, X_test, y_test)
    ck = Path(folder) / "ckpt.pt"
    fit_ddp(make_mlp(8, (32,), 4, seed=0), X, y, checkpoint=ck, stop_after=2, **kw)
    resumed = fit_ddp(make_mlp(8, (32,), 4, seed=0), X, y, checkpoint=ck, **kw)
    tm = torch.tensor([-1])
    try:  # the optional torchmetrics route: per-rank updates, sum-reduced in compute()
        metric = flip_metric(4)
    except ImportError:
        pass
    else:
        rank, world = dist_info()
        mine = slice(rank, None, world)
        metric.update(y_test[mine], predict(old, X_test[mine]), predict(new, X_test[mine]))
        tm = torch.tensor([metric.compute()[k] for k in ("n", *rep.counts)])
    return {"old": old.state_dict(), "new": new.state_dict(), "resumed": resumed.state_dict(), "torchmetrics": tm,
            "counts": torch.tensor([rep.n, *rep.counts.values()]),
            "per_class_nf": torch.tensor([v["negative_flips"] for v in rep.per_class.values()])}


def _fd_lm(out_new, out_old, yb, **_):
    return 0.05 * focal_distillation(out_new, out_old, yb)


def _worker(rank, world, folder):
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))
    try:
        result = _experiment(folder)
        if rank == 0:
            save_torch(result, Path(folder) / "result.pt")
        dist.barrier()  # leave together (as gracekit.scale.cli does)
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    two = load_torch(tmp_path / "result.pt")
    (tmp_path / "one").mkdir()
    one = _experiment(tmp_path / "one")
    # the same global batches: the weights agree up to float summation order
    for side in ("old", "new"):
        for name, w in one[side].items():
            torch.testing.assert_close(two[side][name], w, atol=1e-5, rtol=1e-4, msg=f"{side} {name}")
    assert torch.equal(two["counts"], one["counts"])
    # torchmetrics (in the test extras) sums its state over the two ranks: the same whole-test-set counts
    if _HAVE_TORCHMETRICS or os.environ.get("CI"):
        assert two["torchmetrics"].tolist() == two["counts"].tolist()
        assert one["torchmetrics"].tolist() == one["counts"].tolist()
    assert torch.equal(two["per_class_nf"], one["per_class_nf"])
    # the counts summed over the two shards are those of the whole test set (601: an uneven split)
    X_test, y_test = _blobs(601, 1)
    old, new = make_mlp(8, (16,), 4), make_mlp(8, (32,), 4)
    old.load_state_dict(two["old"])
    new.load_state_dict(two["new"])
    ref = flip_report(y_test, predict(old, X_test), predict(new, X_test))
    assert two["counts"].tolist() == [601, *ref.counts.values()]
    assert 0 < ref["nfr"] < ref["err_new"]
    # killed after epoch 2 and resumed: the same weights as the unbroken run, bit for bit
    assert _same(two["resumed"], two["new"]) and _same(one["resumed"], one["new"])


def test_counts_over_shards_equal_flip_report():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, 997)
    z_old, z_new = rng.normal(size=(997, 5)), rng.normal(size=(997, 5))
    z_new[:, 0] += 0.5
    parts = [update_counts(y_true[s], z_old[s], z_new[s], 5) for s in np.array_split(np.arange(997), 3)]
    got, want = report_from_counts(sum(parts)), flip_report(y_true, z_old, z_new, n_classes=5)
    assert got.n == want.n and got.counts == want.counts and got.per_class == want.per_class
    assert got.rates == pytest.approx(want.rates, nan_ok=True)
    # by hand: old right on 0,1,2; new right on 0,3
    rep = report_from_counts(update_counts([0, 1, 1, 0], [0, 1, 1, 1], [0, 0, 0, 0], 2))
    assert rep.counts == {"old_wrong": 1, "new_wrong": 2, "negative_flips": 2, "positive_flips": 1,
                          "both_wrong": 0, "both_right": 1, "disagree": 3}
    assert rep["nfr"] == 0.5 and rep["relative_nfr"] == pytest.approx(0.5 / (0.75 * 0.5))
    with pytest.raises(ValueError, match="y_true"):
        update_counts([0, 5], [0, 1], [0, 1], 2)
    with pytest.raises(ValueError, match="same number"):
        update_counts([0, 1], [0, 1, 1], [0, 1], 2)
    with pytest.raises(ValueError, match="counts"):
        report_from_counts(torch.zeros(9, dtype=torch.long))


def test_evaluate_update_single_process_and_bad_inputs(tmp_path):
    (X, y), (X_test, y_test) = _blobs(200, 2, k=3, d=5), _blobs(300, 3, k=3, d=5)
    old = fit_ddp(make_mlp(5, (), 3, seed=0), X[:50], y[:50], n_epochs=2, batch_size=25, progress=False)
    new = fit_ddp(make_mlp(5, (8,), 3, seed=0), X, y, n_epochs=2, batch_size=25, progress=False)
    rep = evaluate_update(old, new, X_test, y_test, batch_size=64)
    want = flip_report(y_test, predict(old, X_test), predict(new, X_test))
    assert rep.counts == want.counts and rep.rates == pytest.approx(want.rates, nan_ok=True)
    with pytest.raises(ValueError, match="optimizer"):
        fit_ddp(make_mlp(5, (), 3), X, y, optimizer="lbfgs")
    with pytest.raises(ValueError, match="y must"):
        fit_ddp(make_mlp(5, (), 3), X, y[:-1])
    with pytest.raises(ValueError, match="NaN"):
        fit_ddp(make_mlp(5, (), 3), np.full((4, 5), np.nan), [0, 1, 2, 0])
    # a checkpoint written with other settings is refused; a corrupt one is started over
    ck = tmp_path / "c.pt"
    fit_ddp(make_mlp(5, (), 3), X, y, n_epochs=1, checkpoint=ck, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        fit_ddp(make_mlp(5, (), 3), X, y, n_epochs=1, lr=0.2, checkpoint=ck, progress=False)
    ck.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="unreadable"):
        fit_ddp(make_mlp(5, (), 3), X, y, n_epochs=1, checkpoint=ck, progress=False)
    assert load_torch(ck)["epoch"] == 1


def test_old_classes_term_and_parse_method():
    from gracekit.scale.cli import old_classes_term, parse_method
    from gracekit.pct.experiment import pct_term

    torch.manual_seed(0)
    z_new, z_old = torch.randn(6, 5, requires_grad=True), torch.randn(6, 3)
    y = torch.tensor([0, 4, 2, 3, 1, 4])
    term = pct_term("fd_lm", 0.1)
    keep = y < 3
    got = old_classes_term(term, 3)(out_new=z_new, out_old=z_old, yb=y)
    assert torch.allclose(got, term(out_new=z_new[keep, :3], out_old=z_old[keep], yb=y[keep]))
    zero = old_classes_term(term, 3)(out_new=z_new, out_old=z_old, yb=torch.full((6,), 4))
    assert float(zero.detach()) == 0.0 and zero.requires_grad
    assert parse_method("fd_lm", 10) == ("fd_lm", 0.1) and parse_method("fd_kl", 10) == ("fd_kl", 1.0)
    assert parse_method("kd", 100) == ("kd", 0.01)
    assert parse_method("kd:0.2", 100) == ("kd", 0.2)
    for bad in ("bct", "fd_lm:x", "fd_lm:-1"):
        with pytest.raises(ValueError, match="methods"):
            parse_method(bad, 10)


def test_default_lambdas_pull_equally():
    """The default lambdas of kd/fd_lm and fd_kl give the same pull (loss and gradient) on centred logits."""
    from gracekit.losses import logit_distance
    from gracekit.scale.cli import parse_method

    for k in (10, 100):
        g = torch.Generator().manual_seed(k)
        z_old = 3 * torch.randn(2000, k, generator=g, dtype=torch.float64)
        dz = torch.randn(2000, k, generator=g, dtype=torch.float64)
        z_new = (z_old + dz - dz.mean(1, keepdim=True)).requires_grad_(True)
        _, lam_lm = parse_method("fd_lm", k)
        _, lam_kl = parse_method("fd_kl", k)
        lm = lam_lm * logit_distance(z_new, z_old, distance="lm").mean()
        kl = lam_kl * logit_distance(z_new, z_old, distance="kl", tau=100.0).mean()
        (g_lm,) = torch.autograd.grad(lm, z_new)
        (g_kl,) = torch.autograd.grad(kl, z_new)
        assert abs(float(kl / lm) - 1) < 0.02, (k, float(kl / lm))
        assert abs(float((g_kl * g_lm).sum() / (g_lm * g_lm).sum()) - 1) < 0.02


def test_flip_metric_optional_torchmetrics():
    if not _HAVE_TORCHMETRICS:
        with pytest.raises(ImportError, match="torchmetrics"):
            flip_metric(3)
        return
    m = flip_metric(3)
    y, a, b = [0, 1, 2, 2], [0, 1, 1, 2], [1, 1, 2, 0]
    m.update(y[:2], a[:2], b[:2])
    m.update(y[2:], a[2:], b[2:])
    want = flip_report(y, a, b, n_classes=3)
    got = m.compute()
    assert got["negative_flips"] == want.counts["negative_flips"] and got["nfr"] == want["nfr"]


def _run_cli(args, cwd, nproc=1):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if nproc == 1:
        cmd = [sys.executable, "-m", "gracekit.scale", *args]
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
               "127.0.0.1", "--master_port", str(port), "-m", "gracekit.scale", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _child_errors(stderr):
    """The workers' own error lines first (torchrun's summary at the end hides them), then the tail."""
    keys = ("Error", "terminate", "what()", "Traceback", "gloo")
    lines = [line for line in stderr.splitlines() if any(k in line for k in keys)]
    return "\n".join(lines[:20]) + "\n...\n" + stderr[-1500:]


def _fake_cifar(*args, **kw):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_cifar import write_fake_cifar

    return write_fake_cifar(*args, **kw)


def test_pct_command_under_torchrun_matches_one_process(tmp_path):
    from gracekit.scale.cli import main

    y_test = _fake_cifar(tmp_path / "data", "cifar100", n_train=128, n_test=120)[3]
    args = ["pct", "--data", "cifar100", "--old-classes", "50", "--folder", str(tmp_path / "data"), "--epochs", "2",
            "--width", "4", "--batch-size", "32", "--methods", "none", "fd_lm", "--no-progress"]
    two = _run_cli([*args, "--out", "two"], tmp_path, nproc=2)
    assert two.returncode == 0, _child_errors(two.stderr)
    # lambda = 1/K for the K = 50 old classes the FD term covers (equal pull to fd_kl:1)
    assert "| FD-LM | 0.02 |" in two.stdout and "25.11 / 7.37 / 36.35" in (tmp_path / "two" / "results.md").read_text()
    rec2 = json.loads((tmp_path / "two" / "results.json").read_text())["records"]
    assert [r["world_size"] for r in rec2] == [2, 2]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    rec1 = json.loads((tmp_path / "one" / "results.json").read_text())["records"]
    for a, b in zip(rec1, rec2):
        assert a["n_eval"] == b["n_eval"] == int(np.sum(y_test < 50))
        assert abs(a["n_negative_flips"] - b["n_negative_flips"]) <= 2 and abs(a["err_new"] - b["err_new"]) < 0.03
    # a rerun finds the finished checkpoints: it trains nothing and writes no checkpoint
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "one" / "ckpt").glob("*.pt")}
    assert len(stamps) == 3
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    again = json.loads((tmp_path / "one" / "results.json").read_text())["records"]
    assert [r["nfr"] for r in again] == [r["nfr"] for r in rec1]
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "one" / "ckpt").glob("*.pt")} == stamps


def test_pct_command_missing_data_message(tmp_path, capsys):
    from gracekit.scale.cli import main

    assert main(["pct", "--data", "cifar10", "--folder", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in err and "Download" in err
