"""Bad input and faults, fed as a careless or hostile user would: each gets a clear error (type, and a
message naming the argument, file, row or member) or the correct result, and nothing runs or is written
outside its target."""
import http.server
import io
import os
import pickle
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from gracekit import cache, metrics, train
from gracekit.__main__ import main as cli
from gracekit.bct import face_files, olivetti
from gracekit.bct.face_files import load_faces
from gracekit.models import make_mlp
from gracekit.report import update_report
from gracekit.scale.cifar import CIFAR, load_cifar, safe_load_batch


class WritesAFile:
    """Unpickling this object would create ``path`` (what a crafted data file would do)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def _write(path, text):
    path.write_text(text)
    return str(path)


def _run_cli(args, capsys):
    rc = cli(["report", *args])
    err = capsys.readouterr().err.strip()
    return rc, err


def _one_line_exit_2(rc, err):
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("gracekit report: error: "), err
    assert "Traceback" not in err


# ------------------------------------------------------------------ 1. no file runs code
def test_crafted_cifar_batch_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    folder = tmp_path / "data" / CIFAR["cifar10"]["folder"]
    folder.mkdir(parents=True)
    evil = pickle.dumps({b"data": WritesAFile(target), b"labels": [0]})
    for m in CIFAR["cifar10"]["train"] + CIFAR["cifar10"]["test"]:
        (folder / m).write_bytes(evil)
    assert pickle.loads(evil) is not None and target.exists()  # the payload works with plain pickle...
    target.unlink()
    with pytest.raises(ValueError, match=r"data_batch_1 is not a CIFAR python batch.*refused to load io\.open"):
        load_cifar(tmp_path / "data", "cifar10")
    assert not target.exists()  # ...but not through the kit


def test_cifar_unpickler_reads_numpy1_and_protocol2_batches():
    d = {b"data": np.arange(12, dtype=np.uint8).reshape(2, 6), b"labels": [3, 4], b"batch_label": b"x"}
    raw = pickle.dumps(d, protocol=2)
    assert b"numpy._core.multiarray" in raw or b"numpy.core.multiarray" in raw
    old_style = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # as NumPy 1 wrote it
    for blob in (raw, old_style, pickle.dumps(d)):
        got = safe_load_batch(blob)
        np.testing.assert_array_equal(got[b"data"], d[b"data"])
        assert got[b"labels"] == [3, 4] and got[b"batch_label"] == b"x"
    sneaky = raw.replace(b"_codecs\nencode", b"os\nsystem")  # same shape, another callable
    with pytest.raises(pickle.UnpicklingError, match="refused to load os.system"):
        safe_load_batch(sneaky)


def _fake_mat(path, seed=0):
    from scipy.io import savemat

    faces = np.random.default_rng(seed).integers(0, 256, (4096, 400), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"faces": faces})
    return faces


def test_olivetti_is_read_from_the_mat_in_real_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRACEKIT_REAL_DATA", str(tmp_path / "real"))
    faces = _fake_mat(tmp_path / "real" / "olivettifaces.mat")
    f = load_faces("olivetti", fallback=None)  # no data_home: the one folder for real data
    want = faces.T.astype(np.float32)
    want = (want - want.min()) / (want.max() - want.min())
    np.testing.assert_allclose(f.images, want.reshape(400, 64, 64).transpose(0, 2, 1), atol=1e-6)
    assert f.source == "olivetti" and np.bincount(f.identity).tolist() == [10] * 40


def test_olivetti_never_unpickles_a_pkz(tmp_path, monkeypatch):
    """A crafted scikit-learn cache file beside (or instead of) the .mat runs nothing."""
    monkeypatch.setenv("GRACEKIT_REAL_DATA", str(tmp_path / "real"))
    target = tmp_path / "pwned"
    import joblib

    for folder in (tmp_path / "real", tmp_path / "home"):
        folder.mkdir()
        joblib.dump(WritesAFile(target), folder / "olivetti_py3.pkz", compress=6)
    with pytest.warns(RuntimeWarning, match=r"real data unavailable.*olivettifaces\.mat"):
        f = load_faces("olivetti", n_identities=2, n_per_identity=2)
    with pytest.warns(RuntimeWarning, match="real data unavailable"):
        load_faces("olivetti", data_home=tmp_path / "home", n_identities=2, n_per_identity=2)
    assert f.source == "synthetic" and not target.exists()
    joblib.load(tmp_path / "home" / "olivetti_py3.pkz")  # the file really is a payload
    assert target.exists()


@pytest.mark.parametrize("content, match", [
    (b"not a mat file", "olivettifaces.mat is not a readable Olivetti .mat file"),
    ("wrong shape", r"olivettifaces.mat: expected 'faces' of shape \(4096, 400\)"),
])
def test_a_bad_olivetti_mat_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "olivettifaces.mat"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        from scipy.io import savemat

        savemat(str(path), {"faces": np.zeros((10, 10), np.uint8)})
    with pytest.raises(ValueError, match=match):
        olivetti.read_olivetti_mat(path)
    with pytest.raises(OSError, match=match):
        load_faces("olivetti", data_home=tmp_path, fallback=None)


# ------------------------------------------------------------------ 3. the download cannot stall
@pytest.fixture
def silent_server():
    """A server that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/olivettifaces.mat"
    stop.set()
    t.join(2)
    for c in held:
        c.close()
    sock.close()


def test_download_that_never_answers_times_out_and_falls_back(tmp_path, monkeypatch, silent_server):
    monkeypatch.setattr(olivetti, "OLIVETTI_URL", silent_server)
    start = time.monotonic()
    with pytest.warns(RuntimeWarning, match=r"real data unavailable \((TimeoutError|URLError)[^)]*timed out"):
        f = load_faces("olivetti", data_home=tmp_path, allow_download=True, timeout=0.5,
                       n_identities=2, n_per_identity=2)
    assert time.monotonic() - start < 30  # bounded (without a timeout this never returns)
    assert f.source == "synthetic" and not (tmp_path / "olivettifaces.mat").exists()


def test_downloaded_file_with_wrong_digest_is_not_kept(tmp_path, monkeypatch):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"MATLAB 5.0 MAT-file, but not Olivetti"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(olivetti, "OLIVETTI_URL", f"http://127.0.0.1:{server.server_port}/x")
        with pytest.raises(OSError, match=r"SHA-256 .* differs from the expected"):
            load_faces("olivetti", data_home=tmp_path, allow_download=True, timeout=5, fallback=None)
    finally:
        server.shutdown()
    assert os.listdir(tmp_path) == []


def test_load_faces_timeout_argument_is_checked():
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        load_faces("olivetti", timeout=0)


# ------------------------------------------------------------------ 2. large class ids
def test_flip_report_memory_follows_distinct_classes_not_the_largest_id():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 2000)
    o, n = y.copy(), y.copy()
    n[:300] = (n[:300] + 1) % 5
    y[0] = o[0] = 10 ** 9
    tracemalloc.start()
    rep = metrics.flip_report(y, o, n)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2 ** 20, f"flip_report peaked at {peak / 2 ** 20:.0f} MiB for 6 classes"
    assert sorted(rep.per_class) == [0, 1, 2, 3, 4, 10 ** 9]
    assert rep.per_class[10 ** 9] == {"n": 1, "negative_flips": 1, "positive_flips": 0}
    assert rep.per_class[7] == {"n": 0, "negative_flips": 0, "positive_flips": 0}  # absent class: zeros
    assert rep.n_classes == 10 ** 9 + 1  # the meaning of n_classes (largest label + 1) is kept
    assert rep.counts["negative_flips"] == 300 and "negative flips by true class" in str(rep)
    with pytest.raises(KeyError):
        rep.per_class[10 ** 9 + 1]
    small = metrics.flip_report([0, 1], [0, 1], [1, 1], n_classes=4)  # given n_classes: every class listed
    assert sorted(small.per_class) == [0, 1, 2, 3]


def test_update_report_names_sparse_classes_by_their_labels():
    rep = update_report([0, 10 ** 9, 5, 5], [0, 10 ** 9, 5, 0], [5, 10 ** 9, 5, 0])
    assert rep.class_names == ["0", "5", "1000000000"] and rep.confusion.shape == (3, 3)
    assert rep.flips.counts["negative_flips"] == 1 and "0 -> 5: 1" in rep.to_text()


@pytest.mark.parametrize("big", [100000, 10 ** 9])
def test_report_cli_with_a_huge_class_id(tmp_path, capsys, big):
    rows = "\n".join(f"{i % 3},{i % 3},{(i + (i % 7 == 0)) % 3}" for i in range(300))
    path = _write(tmp_path / "p.csv", f"y_true,y_old,y_new\n{big},{big},0\n{rows}\n")
    tracemalloc.start()
    rc = cli(["report", path])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert peak < 50 * 2 ** 20, f"the report peaked at {peak / 2 ** 20:.0f} MiB for 4 classes"
    assert "4 classes" in out.out and str(big) in out.out


# ------------------------------------------------------------------ 4. the cache never serves damage
def test_a_flipped_bit_in_a_cached_weight_is_recomputed(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(256, dtype=torch.float32)}

    cache.cached("w", {"k": 1}, compute, folder=tmp_path)
    (path,) = tmp_path.glob("w-*.pt")
    raw = bytearray(path.read_bytes())
    at = bytes(raw).index(np.float32(200.0).tobytes())
    raw[at + 3] ^= 0x01  # one bit of the weight 200.0
    path.write_bytes(bytes(raw))
    assert cache.load_torch(path)["w"][200] != 200.0  # torch loads the damaged weight silently
    with pytest.warns(RuntimeWarning, match=r"w-.*\.pt does not match its recorded SHA-256 digest"):
        again = cache.cached("w", {"k": 1}, compute, folder=tmp_path)
    assert calls == [1, 1] and torch.equal(again["w"], torch.arange(256, dtype=torch.float32))
    assert cache.load_torch(path)["w"][200] == 200.0  # and the entry is repaired
    with pytest.warns(RuntimeWarning, match="no recorded digest"):  # an entry without its digest
        (tmp_path / (path.name + ".sha256")).unlink()
        cache.cached("w", {"k": 1}, compute, folder=tmp_path)
    assert calls == [1, 1, 1]


def test_fit_cached_recomputes_an_entry_that_does_not_fit_the_model(tmp_path):
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(32, 4, generator=g), torch.randint(0, 3, (32,), generator=g)
    kw = dict(key={"name": "arch"}, folder=tmp_path, n_epochs=1, lr=0.1, batch_size=16, progress=False)
    train.fit_cached(lambda: make_mlp(4, (8,), 3), X, y, **kw)
    # same key and data, another architecture (a key that forgot to name the width)
    with pytest.warns(RuntimeWarning, match=r"arch-.*\.pt does not fit \(RuntimeError"):
        wide = train.fit_cached(lambda: make_mlp(4, (16,), 3), X, y, **kw)
    assert wide[0].weight.shape == (16, 4)
    fresh = train.fit(make_mlp(4, (16,), 3), X, y, n_epochs=1, lr=0.1, batch_size=16, progress=False)
    assert train.predict(wide, X).shape == (32, 3)
    assert {k: v.shape for k, v in wide.state_dict().items()} == {k: v.shape for k, v in fresh.state_dict().items()}


def test_stale_temporaries_are_cleaned_and_live_ones_kept(tmp_path):
    # a writer killed in the middle of atomic_write_bytes leaves its temporary behind
    code = ("import os, sys; from gracekit import cache; "
            "cache.os.replace = lambda a, b: os._exit(9); "
            "cache.atomic_write_bytes(sys.argv[1], b'x' * 100000)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "big-entry.pt")], env=env, timeout=120)
    assert proc.returncode == 9
    (dead,) = tmp_path.glob("*.tmp")
    assert dead.stat().st_size == 100000
    live = tmp_path / f"other.pt.{cache._HOST}-{os.getpid()}.abc.tmp"  # a writer that still runs
    live.write_bytes(b"in progress")
    old = tmp_path / "ancient.pt.elsewhere-1.xyz.tmp"  # another host's, two hours old
    old.write_bytes(b"left over")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    cache.cached("thing", {"a": 1}, lambda: {"v": torch.ones(1)}, folder=tmp_path)
    assert not dead.exists() and not old.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("thing-")) == [live.name]


# ------------------------------------------------------------------ 5. the report CLI and OS errors
def test_report_folder_given_as_file(tmp_path, capsys):
    (tmp_path / "dir.csv").mkdir()
    rc, err = _run_cli(["--true", _write(tmp_path / "t.csv", "y_true\n0\n1\n"), "--old", str(tmp_path / "dir.csv"),
                        "--new", _write(tmp_path / "n.csv", "y_pred\n0\n1\n")], capsys)
    _one_line_exit_2(rc, err)
    assert "dir.csv: is a folder; expected a file" in err and "not found" not in err


def test_report_unreadable_input(tmp_path, capsys, monkeypatch):
    path = _write(tmp_path / "o.csv", "y_true,y_pred\n0,0\n1,1\n")
    real_open = open

    def guarded(file, *args, **kwargs):  # as for a file without read permission (tests may run as root)
        if str(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded)
    rc, err = _run_cli(["--old", path, "--new", _write(tmp_path / "n.csv", "y_true,y_pred\n0,0\n1,1\n")], capsys)
    _one_line_exit_2(rc, err)
    assert f"{path}: cannot read (Permission denied)" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a user that file modes apply to")
def test_report_unreadable_input_by_file_mode(tmp_path, capsys):
    path = _write(tmp_path / "o.csv", "y_true,y_pred\n0,0\n1,1\n")
    os.chmod(path, 0)
    rc, err = _run_cli(["--old", path, "--new", _write(tmp_path / "n.csv", "y_true,y_pred\n0,0\n1,1\n")], capsys)
    _one_line_exit_2(rc, err)
    assert path in err


def _ok_csv(tmp_path):
    return _write(tmp_path / "all.csv", "y_true,y_old,y_new\n0,0,1\n1,1,1\n2,2,2\n")


def test_report_html_under_a_file_or_at_a_folder(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    rc, err = _run_cli([_ok_csv(tmp_path), "--html", str(tmp_path / "afile" / "r.html")], capsys)
    _one_line_exit_2(rc, err)
    assert f"cannot write the HTML page {tmp_path / 'afile' / 'r.html'}" in err and "is a file" in err
    (tmp_path / "out").mkdir()
    rc, err = _run_cli([_ok_csv(tmp_path), "--html", str(tmp_path / "out")], capsys)
    _one_line_exit_2(rc, err)
    assert f"the HTML page {tmp_path / 'out'}: it is a folder" in err
    assert os.listdir(tmp_path / "out") == [] and (tmp_path / "afile").read_text() == "x"


def test_report_html_in_an_unwritable_folder(tmp_path, capsys, monkeypatch):
    def denied(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", str(dir))

    monkeypatch.setattr(cache.tempfile, "mkstemp", denied)
    page = tmp_path / "ro" / "r.html"
    page.parent.mkdir()
    rc, err = _run_cli([_ok_csv(tmp_path), "--html", str(page)], capsys)
    _one_line_exit_2(rc, err)
    assert f"cannot write the HTML page {page}: Permission denied" in err


MALFORMED = {
    "empty cell": ("y_true,y_old,y_new\n0,0,0\n1,,1\n", r"m\.csv row 3 column y_old: empty label"),
    "nan label": ("y_true,y_old,y_new\n0,0,0\nnan,1,1\n", r"m\.csv row 3 column y_true: 'nan' is not a label"),
    "negative label": ("y_true,y_old,y_new\n0,0,0\n1,1,-1\n", r"m\.csv row 3 column y_new: negative label '-1'"),
    "fractional label": ("y_true,y_old,y_new\n0,0,0\n1,2.5,1\n", r"m\.csv row 3 column y_old: '2\.5' is not a whole"),
    "duplicate columns": ("y_true,y_old,y_new,y_old\n0,0,0,1\n", r"m\.csv: column name 'y_old' appears twice"),
    "unnamed column": ("y_true,,y_new\n0,0,0\n", r"m\.csv: column 2 of the header has no name"),
    "complex label": ("y_true,y_old,y_new\n0,0,0\n1,1+2j,1\n", r"m\.csv row 3 column y_old: '1\+2j' is a complex"),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_report_malformed_labels_name_file_row_and_column(case, tmp_path, capsys):
    text, pattern = MALFORMED[case]
    rc, err = _run_cli([_write(tmp_path / "m.csv", text)], capsys)
    _one_line_exit_2(rc, err)
    assert re.search(pattern, err), err


def test_report_complex_scores_are_refused(tmp_path, capsys):
    true = _write(tmp_path / "t.csv", "y_true\na\nb\n")
    new = _write(tmp_path / "n.csv", "y_pred\na\nb\n")
    rc, err = _run_cli(["--true", true, "--old", _write(tmp_path / "o.csv", "score_a,score_b\n0.9,0.1\n1+2j,0.5\n"),
                        "--new", new], capsys)
    _one_line_exit_2(rc, err)
    assert "o.csv column score_a row 3: '1+2j' is a complex number" in err
    np.save(tmp_path / "o.npy", np.array([[0.9, 0.1], [0.2 + 1j, 0.5]]))
    rc, err = _run_cli(["--true", true, "--old", str(tmp_path / "o.npy"), "--new", new], capsys)
    _one_line_exit_2(rc, err)
    assert "o.npy scores are complex" in err
    np.save(tmp_path / "y.npy", np.array([0, 2 ** 63], dtype=np.uint64))
    ints = _write(tmp_path / "i.csv", "y_pred\n0\n1\n")
    rc, err = _run_cli(["--true", str(tmp_path / "y.npy"), "--old", ints, "--new", ints], capsys)
    _one_line_exit_2(rc, err)
    assert "y.npy has label 9223372036854775808 (row 1), too large" in err and "negative" not in err


# ------------------------------------------------------------------ 6. face files
def _png_bytes(value=100, size=(8, 8)):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(value).integers(0, 256, size[::-1], dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return path


def _good_members():
    return {f"{who}/{j}.png": _png_bytes(10 * i + j) for i, who in enumerate(("a", "b")) for j in range(2)}


def test_corrupt_zip_member_names_the_member(tmp_path):
    members = _good_members()
    members["b/1.png"] = _png_bytes(7, (64, 64))
    z = _zip(tmp_path / "faces.zip", members)
    raw = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("b/1.png")
    start = info.header_offset + 30 + len(info.filename)
    raw[start + 10:start + 40] = b"\xff" * 30  # damage the compressed bytes
    z.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"root: faces\.zip member 'b/1\.png' is corrupt"):
        load_faces("folder", root=z, size=32)


def test_encrypted_zip_member_names_the_member(tmp_path):
    z = _zip(tmp_path / "locked.zip", _good_members(), zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        i = raw.find(sig)
        while i >= 0:
            raw[i + flag_at] |= 0x01  # the "encrypted" flag bit
            i = raw.find(sig, i + 4)
    z.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"root: locked\.zip member 'a/0\.png' is encrypted"):
        load_faces("folder", root=z, size=32)


@pytest.mark.parametrize("side, match", [(5000, r"is 5000x5000 pixels, more than the 16,777,216 allowed"),
                                         (30000, r"is too large \(DecompressionBombError")])
def test_huge_image_is_refused_from_its_header(tmp_path, side, match):
    png = bytearray(_png_bytes())
    ihdr = png.index(b"IHDR")
    png[ihdr + 4:ihdr + 12] = struct.pack(">II", side, side)  # the header claims side x side pixels
    png[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(png[ihdr:ihdr + 17])))
    root = tmp_path / "people"
    (root / "a").mkdir(parents=True)
    (root / "a" / "0.png").write_bytes(_png_bytes())
    (root / "a" / "1.png").write_bytes(bytes(png))
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"root: image 'a/1\.png' " + match):
        load_faces("folder", root=root, size=32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2 ** 20  # refused before decoding (25 MB, 900 MB)


def test_oversized_zip_member_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(face_files, "MAX_IMAGE_BYTES", 1000)
    members = _good_members()
    members["b/1.png"] = _png_bytes(3, (64, 64))  # over 1000 bytes
    z = _zip(tmp_path / "big.zip", members)
    with pytest.raises(ValueError, match=r"big\.zip member 'b/1\.png' unpacks to [\d,]+ bytes, more than"):
        load_faces("folder", root=z, size=32)


@pytest.mark.parametrize("size, match", [("64", r"size must be an integer number of pixels, got '64'"),
                                         (0, "size must be between 8 and 1024 pixels, got 0"),
                                         (True, "size must be an integer"), (10 ** 6, "size must be between")])
def test_bad_size_is_blamed_on_size(tmp_path, size, match):
    z = _zip(tmp_path / "ok.zip", _good_members())
    with pytest.raises(ValueError, match=match):
        load_faces("folder", root=z, size=size)
    with pytest.raises(ValueError, match=match):
        load_faces("synthetic", size=size)


@pytest.mark.parametrize("name", ["../escape/0.png", "a/../../escape/0.png", "/abs/0.png", "C:/x/0.png",
                                  "a\\..\\0.png"])
def test_zip_paths_outside_the_archive_are_refused(tmp_path, name):
    members = {**_good_members(), name: _png_bytes()}
    (tmp_path / "sub").mkdir()
    z = _zip(tmp_path / "sub" / "evil.zip", members)
    with pytest.raises(ValueError, match=r"root: evil\.zip member .* (contains '\.\.'|absolute or Windows)"):
        load_faces("folder", root=z, size=32)
    assert sorted(os.listdir(tmp_path)) == ["sub"] and os.listdir(tmp_path / "sub") == ["evil.zip"]


# ------------------------------------------------------------------ 7. metrics
@pytest.mark.parametrize("scores, match", [
    (np.array([[0.1, np.inf], [0.3, 0.2]]), r"y_old scores contain \+inf \(first at row 0, column 1\)"),
    (np.array([[0.1, 0.9], [0.3 + 1j, 0.2]]), r"y_old scores are complex"),
    (np.array([[-np.inf, -np.inf], [0.3, 0.2]]), r"y_old scores: row 0 is all -inf"),
])
def test_scores_with_inf_or_complex_are_refused_like_nan(scores, match):
    with pytest.raises(ValueError, match=match):
        metrics.negative_flip_rate([0, 1], scores, [0, 1])


def test_log_probabilities_with_minus_inf_are_fine():
    logp = np.array([[0.0, -np.inf], [np.log(0.2), np.log(0.8)]])  # log-probabilities with a zero
    assert metrics.error_rate([0, 1], logp) == 0.0


@pytest.mark.parametrize("labels, match", [
    (np.array([0.0, np.inf]), r"y_true contains infinite values \(row 1\)"),
    (np.array([0.0, 1e20]), r"y_true has label 1e\+20 \(row 1\), too large for an exact class id"),
    (np.array([0, 2 ** 63], dtype=np.uint64), r"y_true has label 9223372036854775808 \(row 1\), too large"),
    (np.array([0, 1 + 0j]), r"y_true labels are complex"),
])
def test_huge_or_infinite_labels_get_a_clear_message(labels, match):
    with pytest.raises(ValueError, match=match) as err:
        metrics.flip_report(labels, [0, 1], [0, 1])
    assert "negative" not in str(err.value)


def test_bfloat16_logits_work():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 4, generator=g)
    y = torch.randint(0, 4, (50,), generator=g)
    bf = logits.to(torch.bfloat16)
    with pytest.raises(TypeError):
        bf.numpy()  # what the metrics used to call
    want = metrics.flip_report(y, bf.float(), logits)
    got = metrics.flip_report(y, bf, logits.to(torch.float16))
    assert got.rates == want.rates or all(
        (np.isnan(a) and np.isnan(b)) or a == b for a, b in zip(got.rates.values(), want.rates.values()))
    assert metrics.disagreement_rate(bf, logits.to(torch.bfloat16)) == 0.0


@pytest.mark.parametrize("args, match", [
    ((3, 3), r"y_old must be labels of shape \(n,\) or scores of shape \(n, n_classes\), got a scalar"),
    (([0, 1], 3), r"y_new must be labels .* got a scalar"),
    (([0, 1], [0, 1, 1]), r"y_old and y_new must have the same length, got 2 and 3"),
])
def test_disagreement_rate_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        metrics.disagreement_rate(*args)


def _minus_zero_btc_case():
    """n samples, k of them old-right and all flipped: BTC is 0, and 1 - NFR / (1 - Err_old) < 0 in floats."""
    for n in range(2, 200):
        for k in range(1, n):
            if 1 - (k / n) / (1 - (n - k) / n) < 0:
                return n, k
    raise AssertionError("no case found")


def test_btc_is_never_minus_zero():
    n, k = _minus_zero_btc_case()
    y = np.zeros(n, dtype=np.int64)
    old = np.ones(n, dtype=np.int64)
    old[:k] = 0  # old right on k samples
    new = np.ones(n, dtype=np.int64)  # new wrong on all of them
    assert f"{1 - (k / n) / (1 - (n - k) / n):.3f}" == "-0.000"  # the old formula printed this
    rep = metrics.flip_report(y, old, new)
    assert rep["btc"] == 0.0 and np.copysign(1, rep["btc"]) == 1
    assert "-0.000" not in str(rep) and metrics.backward_trust_compatibility(y, old, new) == 0.0
