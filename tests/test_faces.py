import warnings
import zipfile

import numpy as np
import pytest

from gracekit.bct.faces import make_faces, split_identities

from gracekit.bct.face_files import build_olivetti_cache, load_faces


def test_make_faces_shapes_range_and_labels():
    f = make_faces(5, 3, seed=1)
    assert f.images.shape == (15, 64, 64) and f.images.dtype == np.float32
    assert 0 <= f.images.min() and f.images.max() <= 1
    assert f.identity.tolist() == [i for i in range(5) for _ in range(3)]
    assert len(f.names) == 5 and f.source == "synthetic"


def test_make_faces_is_seeded_and_identities_are_stable():
    a = make_faces(4, 2, seed=3)
    b = make_faces(4, 2, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.allclose(a.images, make_faces(4, 2, seed=4).images)
    # identity 2's look and nuisances depend only on (seed, 2), not on which others are drawn
    c = make_faces(identities=[2, 7], n_per_identity=2, seed=3)
    np.testing.assert_array_equal(c.images[:2], a.images[4:6])
    assert c.identity.tolist() == [2, 2, 7, 7]


def test_difficulty_knob_spreads_images_of_one_person():
    """Nuisances grow with difficulty: same-person images differ more at k=1 than at k=0."""
    def spread(k):
        f = make_faces(6, 4, difficulty=k, seed=0)
        x = f.images.reshape(6, 4, -1)
        return np.mean(np.std(x, axis=1))
    assert spread(0.0) < 0.01 < spread(1.0)


def test_identity_beats_nuisance_at_difficulty_zero_and_raw_pixels_struggle_at_one():
    """Nearest neighbour on raw pixels: near-perfect without nuisances, far from it at k=1."""
    def nn_acc(k):
        f = make_faces(30, 3, difficulty=k, seed=0)
        x = f.images.reshape(len(f.images), -1)
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        np.fill_diagonal(d, np.inf)
        return np.mean(f.identity[d.argmin(1)] == f.identity)
    assert nn_acc(0.0) > 0.95
    assert nn_acc(1.0) < 0.6


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_identities=0), "identities"), (dict(identities=[-1]), "identities"),
    (dict(n_per_identity=0), "n_per_identity"), (dict(size=8), "size"), (dict(difficulty=np.nan), "difficulty"),
])
def test_make_faces_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_faces(**kwargs)


def test_split_identities_is_disjoint():
    f = make_faces(10, 3)
    tr, te = split_identities(f.identity, n_test=4, seed=0)
    assert len(set(f.identity[tr]) & set(f.identity[te])) == 0
    assert len(np.unique(f.identity[te])) == 4 and len(tr) + len(te) == 30
    tr2, te2 = split_identities(f.identity, n_test=4, seed=None)
    assert set(f.identity[te2]) == {6, 7, 8, 9}
    with pytest.raises(ValueError, match="n_test"):
        split_identities(f.identity, n_test=10)
    with pytest.raises(ValueError, match="identity"):
        split_identities([])


def _write_png(path, value, size=(20, 30)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, np.uint8)).save(path)


def test_folder_loader_reads_dirs_and_zip(tmp_path):
    root = tmp_path / "people"
    for who, v in [("bob", 50), ("alice", 200)]:
        for j in range(2):
            _write_png(root / who / f"{j}.png", v)
    f = load_faces("folder", root=root, size=32)
    assert f.images.shape == (4, 32, 32) and f.names == ["alice", "bob"] and f.source == "folder"
    assert f.identity.tolist() == [0, 0, 1, 1]
    np.testing.assert_allclose(f.images[0], 200 / 255, atol=1e-6)
    z = tmp_path / "people.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in root.rglob("*.png"):
            zf.write(p, "top/" + str(p.relative_to(root)))
        zf.writestr("top/README", "not an image")
    fz = load_faces("folder", root=z, size=32)
    np.testing.assert_array_equal(fz.images, f.images)
    assert fz.names == f.names


def test_folder_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="root"):
        load_faces("folder", root=tmp_path / "nope")
    with pytest.raises(ValueError, match="root"):
        load_faces("folder")
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(ValueError, match="no identity folders"):
        load_faces("folder", root=tmp_path / "empty_root")
    root = tmp_path / "r"
    _write_png(root / "a" / "1.png", 10)
    (root / "b").mkdir()
    with pytest.raises(ValueError, match="'b' holds no images"):
        load_faces("folder", root=root)
    bad = tmp_path / "bad"
    _write_png(bad / "a" / "1.png", 10)
    (bad / "a" / "2.png").write_bytes(b"not really a png")
    with pytest.raises(ValueError, match="2.png"):
        load_faces("folder", root=bad)
    badzip = tmp_path / "x.zip"
    badzip.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="zip"):
        load_faces("folder", root=badzip)
    with pytest.raises(ValueError, match="source"):
        load_faces("lfw")


def test_olivetti_missing_cache_falls_back_or_raises(tmp_path):
    with pytest.warns(RuntimeWarning, match="real data unavailable.*olivettifaces.mat"):
        f = load_faces("olivetti", data_home=tmp_path, n_identities=3, n_per_identity=2)
    assert f.source == "synthetic" and f.images.shape == (6, 64, 64)
    with pytest.raises(OSError, match="real data unavailable"):
        load_faces("olivetti", data_home=tmp_path, fallback=None)


def test_failed_download_falls_back(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def boom(url, timeout=None):
        raise urllib.error.HTTPError("https://figshare", 403, "Forbidden", None, None)

    monkeypatch.setattr(urllib.request, "urlopen", boom)
    with pytest.warns(RuntimeWarning, match="HTTPError.*synthetic"):
        f = load_faces("olivetti", data_home=tmp_path, allow_download=True, n_identities=2, n_per_identity=2)
    assert f.source == "synthetic" and not (tmp_path / "olivettifaces.mat").exists()


def test_build_olivetti_cache_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mat_path"):
        build_olivetti_cache(tmp_path / "none.mat", tmp_path)
    (tmp_path / "bad.mat").write_bytes(b"junk")
    with pytest.raises(ValueError, match="mat_path"):
        build_olivetti_cache(tmp_path / "bad.mat", tmp_path)


def test_olivetti_offline_from_shared_mat(shared_data, tmp_path):
    mat = shared_data / "olivetti" / "olivettifaces.mat"
    if not mat.is_file():
        pytest.skip("olivetti/olivettifaces.mat not in the shared data folder")
    assert build_olivetti_cache(mat, tmp_path) == tmp_path / "olivettifaces.mat"
    assert not list(tmp_path.glob("*.pkz"))  # no pickle written
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = load_faces("olivetti", data_home=tmp_path, fallback=None)
    assert f.images.shape == (400, 64, 64) and f.source == "olivetti"
    assert 0 <= f.images.min() and f.images.max() <= 1
    assert np.bincount(f.identity).tolist() == [10] * 40


def test_folder_loader_reads_orl_zip(shared_data):
    z = shared_data / "orl" / "att_faces.zip"
    if not z.is_file():
        pytest.skip("orl/att_faces.zip not in the shared data folder")
    f = load_faces("folder", root=z)
    assert f.images.shape == (400, 64, 64) and f.source == "folder"
    assert f.names[:3] == ["s1", "s2", "s3"] and len(f.names) == 40
    assert np.bincount(f.identity).tolist() == [10] * 40
    assert 0.2 < f.images.mean() < 0.8
