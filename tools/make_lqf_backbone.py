"""Pretrain notebook 05's backbones on the source classes and write gracekit/data/lqf_backbone_<act>.pt.

Usage: python tools/make_lqf_backbone.py
A 20-128-128-5 MLP (ReLU, and Leaky-ReLU with slope 0.1), seed 0, trained with gracekit.train.fit
(Adam, lr 1e-3, 30 epochs, batch 128, seed 0) on classes 0-4 of make_multiclass(seed=0).
"""
import io
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gracekit.cache import atomic_write_bytes  # noqa: E402
from gracekit.datasets import make_multiclass, split_classes  # noqa: E402
from gracekit.lqf.solver import BACKBONE, PRETRAIN, make_lqf_mlp  # noqa: E402
from gracekit.train import fit, predict  # noqa: E402


def main():
    torch.set_num_threads(1)
    X, y, X_test, y_test = make_multiclass(seed=0)
    Xs, ys = split_classes(X, y, range(5))
    Xs_test, ys_test = split_classes(X_test, y_test, range(5))
    for activation in ("relu", "leaky_relu"):
        model = fit(make_lqf_mlp(activation=activation, **BACKBONE), Xs, ys, progress=False, **PRETRAIN)
        acc = float(np.mean(predict(model, Xs_test).argmax(1).numpy() == ys_test))
        buf = io.BytesIO()
        torch.save({k: v.clone() for k, v in model.state_dict().items()}, buf)
        path = ROOT / "gracekit" / "data" / f"lqf_backbone_{activation}.pt"
        atomic_write_bytes(path, buf.getvalue())
        print(f"{path.relative_to(ROOT)}: source-class test accuracy {acc:.4f}, {len(buf.getvalue()) / 1024:.0f} KB")


if __name__ == "__main__":
    main()
