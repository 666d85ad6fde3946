import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gracekit.scale.cifar import CIFAR, CifarAugment, load_cifar, make_cifar_net


def write_fake_cifar(folder, name="cifar10", n_train=60, n_test=40, packed=True, seed=0):
    """A tiny archive in the CIFAR python format (pickled dicts with bytes keys); returns the arrays."""
    rng = np.random.default_rng(seed)
    spec = CIFAR[name]
    k = spec["n_classes"]
    arrays = {"train": (rng.integers(0, 256, (n_train, 3072), dtype=np.uint8), rng.integers(0, k, n_train)),
              "test": (rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), rng.integers(0, k, n_test))}
    files = {}
    for split, members in (("train", spec["train"]), ("test", spec["test"])):
        X, y = arrays[split]
        for i, chunk in enumerate(np.array_split(np.arange(len(y)), len(members))):
            d = {b"data": X[chunk], b"batch_label": b"fake"}
            if name == "cifar10":
                d[b"labels"] = [int(v) for v in y[chunk]]
            else:
                d[b"fine_labels"] = [int(v) for v in y[chunk]]
                d[b"coarse_labels"] = [int(v) // 5 for v in y[chunk]]
            files[f"{spec['folder']}/{members[i]}"] = pickle.dumps(d)
    folder.mkdir(parents=True, exist_ok=True)
    if packed:
        with tarfile.open(folder / spec["archive"], "w:gz") as tar:
            for path, raw in files.items():
                info = tarfile.TarInfo(path)
                info.size = len(raw)
                tar.addfile(info, io.BytesIO(raw))
    else:
        for path, raw in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(raw)
    return (arrays["train"][0].reshape(-1, 3, 32, 32), arrays["train"][1],
            arrays["test"][0].reshape(-1, 3, 32, 32), arrays["test"][1])


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("packed", [True, False])
def test_load_cifar_reads_archive_and_folder(tmp_path, name, packed):
    want = write_fake_cifar(tmp_path, name, packed=packed)
    got = load_cifar(tmp_path, name)
    assert [a.shape for a in got] == [(60, 3, 32, 32), (60,), (40, 3, 32, 32), (40,)]
    assert got[0].dtype == np.uint8 and got[1].dtype == np.int64
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    if name == "cifar100":
        np.testing.assert_array_equal(load_cifar(tmp_path, name, label="coarse")[1], want[1] // 5)


def test_load_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz"):
        load_cifar(tmp_path, "cifar10")
    with pytest.raises(ValueError, match="name"):
        load_cifar(tmp_path, "mnist")
    with pytest.raises(ValueError, match="label"):
        load_cifar(tmp_path, "cifar10", label="coarse")
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="tar.gz"):
        load_cifar(tmp_path, "cifar10")
    bad = tmp_path / "b" / "cifar-10-batches-py"
    bad.mkdir(parents=True)
    for m in CIFAR["cifar10"]["train"] + ["test_batch"]:
        (bad / m).write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match="3072"):
        load_cifar(tmp_path / "b", "cifar10")
    write_fake_cifar(tmp_path / "c", packed=False)
    (tmp_path / "c" / "cifar-10-batches-py" / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_cifar(tmp_path / "c", "cifar10")


def test_cifar_net_shapes_seed_and_batch_independence():
    net = make_cifar_net(7, width=8, seed=3)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    out = net(x)
    assert out.shape == (6, 7)
    again = make_cifar_net(7, width=8, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    # GroupNorm: a sample's output does not depend on the rest of the batch (unlike BatchNorm)
    torch.testing.assert_close(net(x[:2]), out[:2], atol=1e-5, rtol=1e-5)
    for bad in (dict(n_classes=1), dict(width=0), dict(blocks=(1, 1))):
        with pytest.raises(ValueError, match=next(iter(bad))):
            make_cifar_net(**{"n_classes": 10, **bad})


def test_augment_crops_and_flips_by_sample_index():
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    aug = CifarAugment(20, seed=1)
    idx = torch.tensor([0, 3, 5, 7, 11, 13, 17, 19])
    out = aug(x, idx, epoch=2)
    shifts, flips = aug._draw(2)
    for j, i in enumerate(idx):
        xi = x[j].flip(-1) if flips[i] else x[j]
        r, c = shifts[i]
        assert torch.equal(F.pad(xi, (4, 4, 4, 4))[:, r:r + 32, c:c + 32], out[j])
    # the same sample gets the same draw in any batch, a different one in another epoch
    assert torch.equal(aug(x[3:5], idx[3:5], epoch=2), out[3:5])
    assert not torch.equal(aug(x, idx, epoch=3), out)
    flipped_only = CifarAugment(20, seed=1, pad=0)(x, idx, 0)
    assert all(torch.equal(o, xi) or torch.equal(o, xi.flip(-1)) for o, xi in zip(flipped_only, x))
    with pytest.raises(ValueError, match="n"):
        CifarAugment(0)
