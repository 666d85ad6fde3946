"""Face images for open-set retrieval: a seeded synthetic face generator (real faces: face_files).

Synthetic faces are drawn in layers of soft-edged ellipses. Each identity has 28 fixed shape and tone
parameters; each image adds nuisances (pose, lighting, expression, glasses on/off, an occluder, noise)
whose size is set by one ``difficulty`` knob. ``load_faces`` and ``build_olivetti_cache`` (real faces:
scikit-learn's Olivetti fetcher, or a folder or zip of ``<identity>/*.pgm|png|jpg``) live in
``gracekit.bct.face_files``.
"""
from typing import NamedTuple

import numpy as np


__all__ = ["FaceSet", "make_faces", "split_identities"]

# identity parameters: name -> (low, high), drawn uniformly once per identity
_ID_RANGES = {
    "face_w": (0.50, 0.68), "face_h": (0.66, 0.84), "jaw": (0.0, 0.35), "skin": (0.45, 0.85),
    "eye_y": (-0.16, 0.0), "eye_dx": (0.19, 0.30), "eye_rx": (0.07, 0.115), "eye_ry": (0.03, 0.055),
    "iris": (0.02, 0.35), "brow_dy": (0.08, 0.17), "brow_t": (0.012, 0.035), "brow_len": (0.07, 0.15),
    "brow_tilt": (-0.35, 0.35), "brow_dark": (0.05, 0.45), "nose_len": (0.14, 0.30),
    "nose_w": (0.04, 0.10), "nose_dark": (0.04, 0.20), "mouth_gap": (0.08, 0.20),
    "mouth_w": (0.11, 0.23), "lip_t": (0.018, 0.045), "lip_dark": (0.1, 0.4), "hairline": (-0.75, -0.40),
    "hair_dark": (0.02, 0.6), "hair_side": (0.0, 0.14), "hair_len": (0.0, 0.6), "bald": (0, 1),
    "glasses": (0, 1), "beard": (0, 1),
}
_NAMES = list(_ID_RANGES)


class FaceSet(NamedTuple):
    """Face images (n, H, W) float32 in [0, 1], integer identities (n,), identity names, and the source."""
    images: np.ndarray
    identity: np.ndarray
    names: list
    source: str


def _identity_params(identities, seed):
    rows = []
    for i in identities:
        rng = np.random.default_rng([int(seed), 0, int(i)])
        u = rng.random(len(_NAMES))
        rows.append([lo + (hi - lo) * x for (lo, hi), x in zip(_ID_RANGES.values(), u)])
    p = dict(zip(_NAMES, np.array(rows, dtype=np.float32).T))
    p["bald"] = (p["bald"] < 0.10).astype(np.float32)
    p["glasses"] = (p["glasses"] < 0.25).astype(np.float32)
    p["beard"] = (p["beard"] < 0.15).astype(np.float32)
    return p


def _nuisances(n_img, k, rng):
    u = lambda a: (rng.random(n_img) * 2 - 1) * a * k  # noqa: E731
    return {"yaw": u(0.4), "pitch": u(0.2), "roll": u(0.2), "scale": 1 + u(0.10), "tx": u(0.05),
            "ty": u(0.05), "light": rng.random(n_img) * 0.6 * k, "light_dir": rng.random(n_img) * 2 * np.pi,
            "gain": 1 + u(0.25), "smile": u(1.0), "open": rng.random(n_img) * min(k, 1.5) * 0.6,
            "blink": 1 - rng.random(n_img) ** 3 * min(k, 1.0) * 0.8, "raise": u(0.05),
            "flip_glasses": rng.random(n_img) < 0.15 * min(k, 1.0),
            "occ": rng.random(n_img) < 0.15 * min(k, 1.0), "occ_x": rng.uniform(-0.8, 0.8, n_img),
            "occ_y": rng.uniform(-0.8, 0.8, n_img), "occ_w": rng.uniform(0.15, 0.45, n_img),
            "occ_h": rng.uniform(0.15, 0.45, n_img), "occ_c": rng.random(n_img),
            "bg": 0.5 + (rng.random(n_img) - 0.5) * 0.8 * min(k, 1.0), "noise": rng.uniform(0.005, 0.05, n_img) * k,
            "noise_seed": rng.integers(0, 2**31, n_img)}


def _ellipse(u, v, cx, cy, rx, ry, soft, rot=None):
    """Alpha in [0,1] of a soft ellipse, from the distance estimate (F - 1) / |grad F|."""
    du, dv = u - cx, v - cy
    if rot is not None:
        c, s = np.cos(rot), np.sin(rot)
        du, dv = c * du + s * dv, -s * du + c * dv
    a, b = du / rx, dv / ry
    f = np.sqrt(a * a + b * b) + 1e-6
    grad = np.sqrt((a / rx) ** 2 + (b / ry) ** 2) / f + 1e-6
    inside = (np.abs(du) < rx + 3 * soft) & (np.abs(dv) < ry + 3 * soft)  # the estimate smears far away
    return inside / (1.0 + np.exp(np.clip((f - 1.0) / grad / soft, -30, 30)))


def _paint(img, alpha, colour):
    return img + alpha * (colour - img)


def _render(p, q, size):
    """Draw one chunk: p and q map names to (B,) arrays (identity and nuisance values per image)."""
    P = {k: v[:, None, None] for k, v in p.items()}
    Q = {k: np.asarray(v, dtype=np.float32)[:, None, None] for k, v in q.items() if k != "noise_seed"}
    n = len(q["yaw"])
    g = np.linspace(-1, 1, size, dtype=np.float32)
    X, Y = g[None, None, :], g[None, :, None]
    cr, sr = np.cos(Q["roll"]), np.sin(Q["roll"])
    u = ((X - Q["tx"]) * cr + (Y - Q["ty"]) * sr) / Q["scale"]
    v = (-(X - Q["tx"]) * sr + (Y - Q["ty"]) * cr) / Q["scale"]
    soft = 1.2 / size
    sy = np.sin(Q["yaw"])
    sp = np.sin(Q["pitch"])
    fw = P["face_w"] * (1 - 0.25 * np.abs(sy))
    shift = lambda depth: depth * sy  # noqa: E731  sideways shift of a feature at this depth
    img = np.broadcast_to(Q["bg"], (n, size, size)).astype(np.float32)
    hair = P["hair_dark"] * np.ones_like(Q["bg"])
    hair_on = 1 - P["bald"]
    # hair behind the head, then the face with a tapered jaw
    back = _ellipse(u, v, 0.05 * sy, 0.05 - 0.1 + P["hair_len"] * 0.3, fw + P["hair_side"],
                    P["face_h"] + 0.08 + P["hair_len"] * 0.3, soft)
    img = _paint(img, back * hair_on, hair)
    taper = 1 - P["jaw"] * np.clip((v - 0.05) / P["face_h"], 0, 1)
    face = _ellipse(u / taper, v, 0.05 * sy / taper, 0.05, fw, P["face_h"], soft)
    img = _paint(img, face, P["skin"])
    # hair cap above the hairline and an optional beard
    cap = face * (1 / (1 + np.exp(np.clip((v - P["hairline"] - 0.25 * (u - shift(0.1)) ** 2) / soft, -30, 30))))
    img = _paint(img, cap * hair_on, hair)
    ey = P["eye_y"] + 0.3 * sp
    mouth_y = ey + P["nose_len"] + P["mouth_gap"] + 0.2 * sp
    beard = face * (1 / (1 + np.exp(np.clip((mouth_y - 0.06 - v) / soft, -30, 30))))
    img = _paint(img, beard * P["beard"] * 0.6, hair)
    # eyes (sclera, iris), brows, glasses
    for side in (-1.0, 1.0):
        ex = side * P["eye_dx"] * (1 - 0.2 * np.abs(sy)) + shift(0.35)
        erx = P["eye_rx"] * (1 - 0.35 * side * sy)
        ery = P["eye_ry"] * Q["blink"]
        sclera = _ellipse(u, v, ex, ey, erx, ery, soft)
        img = _paint(img, sclera, 0.9 * np.ones_like(hair))
        iris = sclera * _ellipse(u, v, ex + 0.3 * erx * sy, ey, P["eye_ry"] * 0.95, P["eye_ry"] * 0.95, soft)
        img = _paint(img, iris, P["iris"])
        brow = _ellipse(u, v, ex, ey - P["brow_dy"] - Q["raise"], P["brow_len"] * (1 - 0.3 * side * sy),
                        P["brow_t"], soft, rot=side * P["brow_tilt"])
        img = _paint(img, brow, P["brow_dark"])
        wear = np.abs(P["glasses"] - Q["flip_glasses"].astype(np.float32))
        ring = _ellipse(u, v, ex, ey, erx + 0.06, P["eye_ry"] + 0.06, soft)
        ring = ring - _ellipse(u, v, ex, ey, erx + 0.04, P["eye_ry"] + 0.04, soft)
        img = _paint(img, np.clip(ring, 0, 1) * wear, 0.05 * np.ones_like(hair))
    # nose (shaded ridge and nostrils) and mouth (curved lips, open mouth)
    nx = shift(0.6)
    ridge = _ellipse(u, v, nx, ey + P["nose_len"] * 0.55, P["nose_w"] * 0.6, P["nose_len"] * 0.55, soft)
    img = _paint(img, ridge * 0.6, P["skin"] - P["nose_dark"])
    for side in (-1.0, 1.0):
        nostril = _ellipse(u, v, nx + side * P["nose_w"] * 0.6, ey + P["nose_len"], P["nose_w"] * 0.35,
                           0.018, soft)
        img = _paint(img, nostril, P["skin"] * 0.45)
    mx = shift(0.4)
    curve = Q["smile"] * 2.5 * (u - mx) ** 2
    mw = P["mouth_w"] * (1 + 0.15 * Q["smile"]) * (1 - 0.25 * np.abs(sy))
    lips = _ellipse(u, v + curve, mx, mouth_y, mw, P["lip_t"] + 0.5 * Q["open"] * P["lip_t"], soft)
    img = _paint(img, lips, P["skin"] * (1 - P["lip_dark"]))
    inner = _ellipse(u, v + curve, mx, mouth_y, mw * 0.8, Q["open"] * P["lip_t"] * 0.9 + 1e-3, soft)
    img = _paint(img, inner, 0.08 * np.ones_like(hair))
    # occluder patch (image coordinates), lighting ramp and gain, noise
    box = (np.abs(X - Q["occ_x"]) < Q["occ_w"] / 2) & (np.abs(Y - Q["occ_y"]) < Q["occ_h"] / 2)
    img = np.where(box & Q["occ"].astype(bool), Q["occ_c"], img)
    ramp = 1 + Q["light"] * (np.cos(Q["light_dir"]) * X + np.sin(Q["light_dir"]) * Y)
    img = img * ramp * Q["gain"]
    for i in range(n):
        rng = np.random.default_rng(int(q["noise_seed"][i]))
        img[i] += rng.standard_normal((size, size), dtype=np.float32) * np.float32(q["noise"][i])
    return np.clip(img, 0, 1).astype(np.float32)


def make_faces(n_identities=100, n_per_identity=12, *, identities=None, difficulty=1.0, size=64, seed=0,
               chunk=128):
    """Synthetic grey faces: fixed per-identity shape parameters, fresh nuisances per image.

    Identity ``i``'s look depends only on (seed, i), so two calls that share identities share faces.

    Args:
        n_identities: identities 0..n-1 (ignored when ``identities`` is given).
        n_per_identity: images per identity.
        identities: explicit identity ids (e.g. ``range(300, 400)`` for held-out test people).
        difficulty: nuisance strength k (0 = canonical frontal faces, 1 = the calibrated default).
        size: image side in pixels.
        seed: seed for identities and nuisances.
        chunk: images drawn at once (memory vs speed).
    Returns:
        FaceSet(images (n, size, size) float32 in [0,1], identity (n,) int64, names, source="synthetic").
    Used in: notebooks/03_bct_faces.py
    """
    ids = np.arange(n_identities) if identities is None else np.asarray(list(identities))
    if ids.ndim != 1 or len(ids) == 0 or not np.issubdtype(ids.dtype, np.integer) or (ids < 0).any():
        raise ValueError(f"identities must be a non-empty list of integers >= 0, got {identities!r}")
    if not isinstance(n_per_identity, (int, np.integer)) or n_per_identity < 1:
        raise ValueError(f"n_per_identity must be a positive integer, got {n_per_identity!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer >= 16, got {size!r}")
    if not (np.isfinite(difficulty) and 0 <= difficulty <= 3):
        raise ValueError(f"difficulty must be in [0, 3], got {difficulty!r}")
    params = _identity_params(ids, seed)
    nuis = [_nuisances(n_per_identity, difficulty, np.random.default_rng([int(seed), 1, int(i)])) for i in ids]
    q = {k: np.concatenate([d[k] for d in nuis]) for k in nuis[0]}
    p = {k: np.repeat(v, n_per_identity) for k, v in params.items()}
    n = len(ids) * n_per_identity
    images = np.empty((n, size, size), np.float32)
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        images[sl] = _render({k: v[sl] for k, v in p.items()}, {k: v[sl] for k, v in q.items()}, size)
    y = np.repeat(ids.astype(np.int64), n_per_identity)
    return FaceSet(images, y, [f"synthetic-{i}" for i in ids], "synthetic")


def split_identities(identity, n_test=None, *, test_fraction=0.25, seed=0):
    """Open-set split: disjoint train and test identities (no person appears in both).

    Args:
        identity: identity label per image.
        n_test: number of test identities; default ``round(test_fraction * n_identities)``.
        test_fraction: used when ``n_test`` is None.
        seed: which identities go to the test side (None: the last ones, in sorted order).
    Returns:
        train_idx, test_idx: image indices (int64 arrays).
    Used in: notebooks/03_bct_faces.py
    """
    identity = np.asarray(identity)
    if identity.ndim != 1 or len(identity) == 0:
        raise ValueError(f"identity must be a non-empty 1-D array, got shape {identity.shape}")
    ids = np.unique(identity)
    if n_test is None:
        n_test = int(round(test_fraction * len(ids)))
    if not 1 <= n_test < len(ids):
        raise ValueError(f"n_test must be between 1 and {len(ids) - 1} (there are {len(ids)} identities), "
                         f"got {n_test}")
    test_ids = ids[-n_test:] if seed is None else np.random.default_rng(seed).choice(ids, n_test, replace=False)
    is_test = np.isin(identity, test_ids)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)

