import numpy as np
import pytest
import torch

from gracekit.bct.faces import make_faces
from gracekit.bct.recipe import load_models
from gracekit.cache import save_torch
from gracekit.models import embed


def test_shipped_models_load_and_embed_on_the_unit_sphere():
    models, meta = load_models()
    assert set(models) == {"old", "independent", "twin", "BCT", "BCT-oldonly", "L2"}
    assert models["old"].weight.shape == (meta["setup"]["n_old"], 64)  # the old classifier BCT needs
    faces = make_faces(identities=[1000, 1001], n_per_identity=2, seed=0)
    z = {k: embed(m, faces.images) for k, m in models.items()}
    for k, e in z.items():
        assert e.shape == (4, 64) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5), k
    assert not np.allclose(z["independent"], z["twin"])  # different starts, different models


def test_load_models_refuses_a_file_of_another_kind(tmp_path):
    path = tmp_path / "other.pt"
    save_torch({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="make_bct_models"):
        load_models(path)


def test_train_face_embedder_is_the_two_stage_recipe(tmp_path, monkeypatch):
    """The shared recipe: both stages run with the setup's epochs and rates, and a rerun comes from the cache."""
    import numpy as np

    from gracekit import train
    from gracekit.bct.faces import make_faces
    from gracekit.bct.recipe import train_face_embedder

    monkeypatch.setenv("GRACEKIT_CACHE", str(tmp_path))
    calls = []
    real_fit = train.fit
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append((k["n_epochs"], k["lr"], k["seed"])) or real_fit(*a, **k))
    faces = make_faces(4, 4, size=32, seed=0)
    setup = dict(n_epochs=3, decay_epochs=1, lr=3e-3, batch_size=8, weight_decay=0.0, margin=0.2, scale=16.0)
    m = train_face_embedder(4, faces.images, faces.identity, "tiny", setup=setup, seed=5)
    assert calls == [(2, 3e-3, 5), (1, 3e-3 / 10, 5)]
    again = train_face_embedder(4, faces.images, faces.identity, "tiny", setup=setup, seed=5)
    assert len(calls) == 2 and all(np.array_equal(p.detach(), q.detach())
                                   for p, q in zip(m.parameters(), again.parameters()))
