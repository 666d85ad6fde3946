"""The on-disk cache: atomic writes, corrupt entries recomputed, keys that follow the settings."""
import os
import stat

import numpy as np
import pytest
import torch

from gracekit import cache

from gracekit import train
from gracekit.cache import atomic_write_bytes, cached, fingerprint, settings_key
from gracekit.models import make_mlp


def test_atomic_write_replaces_whole_files_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(path, b"first")
    atomic_write_bytes(path, b"second")
    assert path.read_bytes() == b"second" and os.listdir(path.parent) == ["a.bin"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's private 0600


def test_a_write_that_fails_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"good")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"half")
    assert path.read_bytes() == b"good" and os.listdir(tmp_path) == ["a.bin"]


def test_cached_computes_once_and_follows_the_settings(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(3.0) + len(calls)}

    a = cached("thing", {"lr": 0.1}, compute, folder=tmp_path)
    b = cached("thing", {"lr": 0.1}, compute, folder=tmp_path)
    assert len(calls) == 1 and torch.equal(a["w"], b["w"])
    cached("thing", {"lr": 0.2}, compute, folder=tmp_path)
    assert len(calls) == 2 and len(list(tmp_path.glob("thing-*.pt"))) == 2


def test_a_corrupt_entry_is_recomputed_with_a_warning(tmp_path):
    first = cached("x", {"k": 1}, lambda: {"v": torch.ones(2)}, folder=tmp_path)
    (path,) = tmp_path.glob("x-*.pt")
    path.write_bytes(path.read_bytes()[:20])  # truncated, as after a crash in a non-atomic writer
    with pytest.warns(RuntimeWarning, match="damaged"):  # the digest no longer matches
        again = cached("x", {"k": 1}, lambda: {"v": torch.full((2,), 7.0)}, folder=tmp_path)
    assert torch.equal(again["v"], torch.full((2,), 7.0)) and torch.equal(first["v"], torch.ones(2))
    assert torch.equal(cache.load_torch(path)["v"], again["v"])  # overwritten with the good result
    # bytes that match their digest but do not load (written so by hand): unreadable, recomputed
    path.write_bytes(b"not a torch file")
    (tmp_path / (path.name + ".sha256")).write_text(cache.file_digest(path))
    with pytest.warns(RuntimeWarning, match="unreadable"):
        third = cached("x", {"k": 1}, lambda: {"v": torch.full((2,), 3.0)}, folder=tmp_path)
    assert torch.equal(third["v"], torch.full((2,), 3.0))


def test_keys_and_fingerprints():
    assert settings_key({"a": 1, "b": 2}) == settings_key({"b": 2, "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2})
    with pytest.raises(ValueError, match="settings must be a dict"):
        settings_key([1, 2])
    x = np.arange(6, dtype=np.float32)
    assert fingerprint(x) == fingerprint(torch.from_numpy(x.copy()))
    assert fingerprint(x) != fingerprint(x.reshape(2, 3)) != fingerprint(x.astype(np.float64))
    y = x.copy()
    y[3] += 1
    assert fingerprint(x) != fingerprint(y) and fingerprint(x, y) != fingerprint(y, x)


def test_fit_cached_trains_once_per_key(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 4, generator=g), torch.randint(0, 3, (64,), generator=g)
    kw = dict(key={"name": "tiny"}, folder=tmp_path, n_epochs=2, lr=0.1, batch_size=16, seed=3, progress=False)
    first = train.fit_cached(lambda: make_mlp(4, (8,), 3), X, y, **kw)
    calls = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    again = train.fit_cached(lambda: make_mlp(4, (8,), 3), X, y, **kw)
    assert calls == [] and all(torch.equal(p, q) for p, q in zip(first.parameters(), again.parameters()))
    train.fit_cached(lambda: make_mlp(4, (8,), 3), X, y, **{**kw, "seed": 4})  # other settings: trained
    train.fit_cached(lambda: make_mlp(4, (8,), 3), X, 2 - y, **kw)  # other labels: trained
    assert calls == [1, 1]
    with pytest.raises(ValueError, match="key must be a dict"):
        train.fit_cached(lambda: make_mlp(4, (8,), 3), X, y, key="tiny")


def test_fit_two_stage_runs_both_stages_and_validates(tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("GRACEKIT_CACHE", str(tmp_path))
    calls = []
    real_fit = train.fit

    def counting_fit(model, X, y, **kw):
        calls.append((kw["n_epochs"], kw["lr"]))
        return real_fit(model, X, y, **kw)

    monkeypatch.setattr(train, "fit", counting_fit)
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    make = lambda: torch.nn.Linear(3, 2)  # noqa: E731
    train.fit_two_stage(make, X, y, key={"name": "two"}, n_epochs=5, decay_epochs=2, lr=0.3, seed=0)
    assert calls == [(3, 0.3), (2, 0.03)]
    train.fit_two_stage(make, X, y, key={"name": "two"}, n_epochs=5, decay_epochs=2, lr=0.3, seed=0)
    assert len(calls) == 2  # both stages cached
    # a longer first stage with the same decay is another second stage, not a cached one
    train.fit_two_stage(make, X, y, key={"name": "two"}, n_epochs=6, decay_epochs=2, lr=0.3, seed=0)
    assert calls[2:] == [(4, 0.3), (2, 0.03)]
    with pytest.raises(ValueError, match="decay_epochs"):
        train.fit_two_stage(make, X, y, key={"name": "two"}, n_epochs=2, decay_epochs=2, lr=0.3)
