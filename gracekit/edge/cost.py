"""What a query costs: FLOPs (torch's flop counter), parameter count and measured CPU latency.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``: matrix multiplies and convolutions,
a multiply-add counted as 2 FLOPs. Element-wise work (BatchNorm, ReLU, pooling, normalisation) is not
counted; in a small CNN it is a few percent of the total. Latency is wall-clock time, so it also
pays for Python and per-operator overhead, which FLOPs ignore: at batch 1 that overhead hides most
of a small model's FLOPs saving.
"""
import time

import numpy as np
import torch

from gracekit.models import count_params

__all__ = ["count_flops", "measure_latency", "cost_report"]


def _check_model(model):
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _check_shape(input_shape):
    if isinstance(input_shape, (int, np.integer)):
        input_shape = (input_shape,)
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(f"input_shape must be a tuple of positive integers, got {input_shape!r}") from None
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                            for s in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive integers (one input, no batch "
                         f"dimension), got {input_shape!r}")
    return tuple(int(s) for s in shape)


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _forward(model, method):
    if method is None or (method == "embed" and not hasattr(model, "embed")):
        return model
    fn = getattr(model, method, None)
    if not callable(fn):
        raise ValueError(f"method must name a callable of the model (e.g. 'embed'), got {method!r}")
    return fn


def count_flops(model, input_shape, *, batch_size=1, method="embed"):
    """FLOPs of one forward pass per input (multiply-adds count 2), by torch's FlopCounterMode.

    Args:
        model: a torch.nn.Module (left in the mode it was in).
        input_shape: shape of one input without the batch dimension, e.g. (64, 64).
        batch_size: inputs per counted pass (the result is divided by it).
        method: the model's method a query runs (default ``embed`` when the model has one; None or a
            model without it: ``forward``).
    Returns:
        FLOPs per input (a float).
    Used in: notebooks/04_edge_cloud.py
    """
    from torch.utils.flop_counter import FlopCounterMode

    _check_model(model)
    shape = _check_shape(input_shape)
    batch_size = _check_positive_int(batch_size, "batch_size")
    fn = _forward(model, method)
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.zeros((batch_size, *shape), device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            fn(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / batch_size


def measure_latency(model, input_shape, *, batch_size=1, n_repeats=50, n_warmup=5, method="embed", threads=None):
    """Median wall-clock milliseconds of one no-grad forward pass on a batch (CPU by default).

    The median over ``n_repeats`` timed calls is robust to the odd slow call on a busy machine.
    Divide by ``batch_size`` for the time per query.

    Args:
        model: a torch.nn.Module (timed in eval mode on its current device).
        input_shape: shape of one input without the batch dimension, e.g. (64, 64).
        batch_size: inputs per call.
        n_repeats: timed calls (median taken); n_warmup: untimed calls first.
        method: as in ``count_flops``.
        threads: torch intra-op threads during the timing (restored after); None keeps the current.
    Returns:
        median milliseconds per call (a float).
    Used in: notebooks/04_edge_cloud.py
    """
    _check_model(model)
    shape = _check_shape(input_shape)
    batch_size = _check_positive_int(batch_size, "batch_size")
    n_repeats = _check_positive_int(n_repeats, "n_repeats")
    if isinstance(n_warmup, bool) or not isinstance(n_warmup, (int, np.integer)) or n_warmup < 0:
        raise ValueError(f"n_warmup must be an integer >= 0, got {n_warmup!r}")
    if threads is not None:
        threads = _check_positive_int(threads, "threads")
    fn = _forward(model, method)
    device = next(iter(model.parameters()), torch.empty(0)).device
    x = torch.rand((batch_size, *shape), generator=torch.Generator().manual_seed(0)).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    old_threads = torch.get_num_threads()
    was_training = model.training
    model.eval()
    times = []
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.no_grad():
            for i in range(int(n_warmup) + n_repeats):
                sync()
                t0 = time.perf_counter()
                fn(x)
                sync()
                if i >= n_warmup:
                    times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
        torch.set_num_threads(old_threads)
    return float(np.median(times) * 1000)


def cost_report(model, input_shape, *, batch_sizes=(1, 64), n_repeats=30, method="embed", include=None):
    """FLOPs, parameters and median latency (per call and per query) at a few batch sizes.

    Args:
        model, input_shape, method: as in ``count_flops``.
        batch_sizes: batch sizes to time.
        n_repeats: timed calls per batch size.
        include: parameter-name prefixes for ``count_params`` (None: all).
    Returns:
        dict with ``flops``, ``params`` and ``latency_ms`` / ``ms_per_query`` dicts keyed by batch size.
    Used in: notebooks/04_edge_cloud.py
    """
    sizes = [_check_positive_int(b, "batch_sizes") for b in np.atleast_1d(batch_sizes).tolist()]
    lat = {b: measure_latency(model, input_shape, batch_size=b, n_repeats=n_repeats, method=method) for b in sizes}
    return {"flops": count_flops(model, input_shape, method=method), "params": count_params(model, include=include),
            "latency_ms": lat, "ms_per_query": {b: lat[b] / b for b in sizes}}
