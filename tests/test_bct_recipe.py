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
