import time

import pytest
import torch
import torch.nn as nn

from gracekit.edge.cost import cost_report, count_flops, measure_latency
from gracekit.models import count_params
from gracekit.models import FaceEmbedder


class Sleepy(nn.Module):
    """A model whose forward sleeps a fixed time (and is occasionally much slower)."""

    def __init__(self, ms=5.0):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.ms, self.calls = ms, 0

    def forward(self, x):
        self.calls += 1
        time.sleep((self.ms * (20 if self.calls % 7 == 0 else 1)) / 1000)
        return self.lin(x)


def test_flops_match_hand_counts():
    lin = nn.Linear(10, 5, bias=False)
    assert count_flops(lin, (10,)) == 2 * 10 * 5  # a multiply-add counts 2
    assert count_flops(lin, (10,), batch_size=8) == 100  # per input
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    assert count_flops(conv, (1, 4, 4)) == 2 * (2 * 4 * 4) * 9
    seq = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))  # ReLU and biases are not counted
    assert count_flops(seq, (4,)) == 2 * (4 * 6 + 6 * 3)


def test_flops_of_embedder_use_the_embed_path_and_scale_with_width():
    small, big = FaceEmbedder(50, widths=(4, 8, 8, 8)), FaceEmbedder(50, widths=(8, 16, 16, 16))
    f_small, f_big = count_flops(small, (64, 64)), count_flops(big, (64, 64))
    # first conv at 32x32: 2 * 1024 * 9 * w MACs; widths double -> FLOPs roughly x3.5 (conv ~x4, fc x2)
    assert 3.0 < f_big / f_small < 4.0
    # the classifier head (50 x 64) is not run by a query: forward costs more than embed
    assert count_flops(small, (64, 64), method=None) - f_small == pytest.approx(2 * 64 * 50)
    assert small.training  # mode restored


def test_count_params_all_and_by_prefix():
    m = FaceEmbedder(10, emb_dim=8, widths=(2,), in_size=4)
    conv, bn, fc, head = 9 * 2, 2 * 2, (2 * 2 * 2) * 8 + 8, 10 * 8
    assert count_params(m) == conv + bn + fc + head
    assert count_params(m, include=["features", "fc"]) == conv + bn + fc
    with pytest.raises(ValueError, match="include"):
        count_params(m, include="fc")


def test_latency_is_a_robust_median():
    model = Sleepy(ms=5.0)
    ms = measure_latency(model, (3,), batch_size=4, n_repeats=14, n_warmup=1)
    # every 7th call sleeps 100 ms: the median ignores it (a mean would be ~ 18 ms)
    assert 5.0 <= ms < 30.0
    assert model.calls == 15


def test_latency_grows_with_model_size_at_large_batch():
    torch.manual_seed(0)
    small = nn.Sequential(nn.Linear(256, 16))
    big = nn.Sequential(nn.Linear(256, 2048), nn.ReLU(), nn.Linear(2048, 2048))
    t_small = measure_latency(small, (256,), batch_size=64, n_repeats=15, threads=1)
    t_big = measure_latency(big, (256,), batch_size=64, n_repeats=15, threads=1)
    assert t_big > 5 * t_small  # ~ 280x the FLOPs


def test_cost_report_keys():
    r = cost_report(nn.Linear(8, 4), (8,), batch_sizes=(1, 16), n_repeats=3)
    assert r["flops"] == 64 and r["params"] == 36
    assert set(r["latency_ms"]) == {1, 16}
    assert r["ms_per_query"][16] == pytest.approx(r["latency_ms"][16] / 16)


@pytest.mark.parametrize("kwargs, match", [
    (dict(input_shape=()), "input_shape"),
    (dict(input_shape=(3, 0)), "input_shape"),
    (dict(input_shape="abc"), "input_shape"),
    (dict(input_shape=(3,), batch_size=0), "batch_size"),
    (dict(input_shape=(3,), method="nope"), "method"),
])
def test_bad_input_flops(kwargs, match):
    with pytest.raises(ValueError, match=match):
        count_flops(nn.Linear(3, 2), **kwargs)


def test_bad_input_latency():
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="model"):
        measure_latency("not a model", (3,))
    with pytest.raises(ValueError, match="n_repeats"):
        measure_latency(m, (3,), n_repeats=0)
    with pytest.raises(ValueError, match="batch_size"):
        measure_latency(m, (3,), batch_size=1.5)
    with pytest.raises(ValueError, match="n_warmup"):
        measure_latency(m, (3,), n_warmup=-1)
    with pytest.raises(ValueError, match="threads"):
        measure_latency(m, (3,), threads=0)
    with pytest.raises(ValueError, match="model"):
        count_params([1, 2])
