"""The offline kit as a room with no network uses it: `tools/offline_kit.py build` writes the kit, then a
fresh virtual environment is made from its wheels with the network cut (`unshare -n` when run as root,
else pip's --no-index plus a socket guard), and one notebook runs at full size from the kit's cache
without training a model. This is one long test (minutes): it builds a whole torch environment.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# trains a chain of models into the cache when it is cold (about 90 s on 2 busy cores) and reads
# them back in about 25 s; notebook 01 would prove nothing (it caches no model)
NOTEBOOK = "06_your_update"

pytestmark = [pytest.mark.offline_kit, pytest.mark.xdist_group("offline_kit")]

# sitecustomize for every Python the offline steps start: record and refuse connections that leave
# the machine (the kernel's own sockets are local)
GUARD = '''
import os, socket
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _remote(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return False
    host = str(address[0])
    if host in ("localhost", "::1") or host.startswith("127."):
        return False
    with open(os.environ["GRACEKIT_NET_LOG"], "a") as f:
        f.write(f"{os.getpid()} connect {address}\\n")
    return True


def connect(self, address):
    if _remote(self, address):
        raise OSError(101, f"network cut by the offline-kit test: {address}")
    return _connect(self, address)


def connect_ex(self, address):
    return 101 if _remote(self, address) else _connect_ex(self, address)


socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
'''


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ask_jupyterlab_kernel(jupyter, cwd, env, code, timeout=120):
    """Start JupyterLab as `make lab` does, start a kernel through its REST API, run ``code`` in it
    over the kernel's websocket and return what it printed."""
    import asyncio

    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    port, token = _free_port(), uuid.uuid4().hex
    server = subprocess.Popen([str(jupyter), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                               f"--IdentityProvider.token={token}", "--allow-root"], cwd=cwd, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    async def ask():
        base, auth = f"127.0.0.1:{port}", {"Authorization": f"token {token}"}
        http, deadline = AsyncHTTPClient(), time.monotonic() + timeout
        while True:
            try:
                reply = await http.fetch(HTTPRequest(f"http://{base}/api/kernels", "POST", auth, body="{}"))
                break
            except (ConnectionError, OSError):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                await asyncio.sleep(0.5)
        kernel = json.loads(reply.body)["id"]
        ws = await websocket_connect(HTTPRequest(f"ws://{base}/api/kernels/{kernel}/channels", headers=auth))
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        printed = []
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(ws.read_message(), timeout))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                printed.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                printed.append("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        ws.close()
        await http.fetch(HTTPRequest(f"http://{base}/api/kernels/{kernel}", "DELETE", auth))
        return "".join(printed)

    try:
        return asyncio.run(ask())
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _unshare_works():
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in Path(folder).rglob("*") if p.is_file()}


def _run(cmd, env, timeout, cwd=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed (rc {proc.returncode}):\n{tail}"
    return proc, seconds


@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("make"), reason="needs make and a POSIX shell")
def test_offline_kit_installs_and_runs_a_notebook_with_no_network(tmp_path):
    kit, home, guard = tmp_path / "kit", tmp_path / "home", tmp_path / "guard"
    times = {}

    # 1. the kit without its cache: wheels for this machine (pip reuses what its configured sources
    #    hold: a local wheel folder, its own cache), the project files, the README
    build_env = dict(os.environ, GRACEKIT_REAL_DATA=str(tmp_path / "no-real-data"))
    build_env.pop("GRACEKIT_CACHE", None)
    build = [sys.executable, str(ROOT / "tools" / "offline_kit.py"), "build", "--out", str(kit),
             "--torch", "torch==2.13.0"]
    _, times["wheels and files"] = _run(build + ["--no-warm"], build_env, timeout=1200)
    wheels = [p.name for p in (kit / "wheels").iterdir()]
    for name in ("torch-", "setuptools-", "wheel-", "pip-", "jupyterlab-", "ipykernel-", "jupytext-"):
        assert any(w.startswith(name) and w.endswith(".whl") for w in wheels), f"no {name}*.whl in the kit"
    assert "make lab OFFLINE=.." in (kit / "README.md").read_text()

    # 2. a participant's laptop: no network, no pip configuration, an empty home folder
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    net_log = tmp_path / "network-attempts.log"
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "OMP_WAIT_POLICY", "GRACEKIT_THREADS")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(HOME=str(home), PIP_CONFIG_FILE=os.devnull, PYTHONPATH=str(guard), GRACEKIT_NET_LOG=str(net_log),
               GRACEKIT_FAST="0", MPLBACKEND="module://matplotlib_inline.backend_inline")
    wrap = ["unshare", "-n"] if _unshare_works() else []
    base_python = getattr(sys, "_base_executable", sys.executable)
    probe = subprocess.run([*wrap, base_python, "-c", "import socket; socket.create_connection(('1.1.1.1', 443), 3)"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0, "the network is not cut for the offline steps"
    net_log.unlink(missing_ok=True)

    # the install (mostly unpacking torch) runs while the builder warms one notebook into the kit
    src = kit / "gracekit"
    start = time.perf_counter()
    log = (tmp_path / "install.log").open("w")
    install = subprocess.Popen([*wrap, "make", "-C", str(src), "install-lab", f"OFFLINE={kit}",
                                f"PYTHON={base_python}"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _, times["warm"] = _run(build + ["--only", NOTEBOOK[:2]], build_env, timeout=1200)
        rc = install.wait(timeout=1200)
    finally:
        if install.poll() is None:
            install.kill()
        log.close()
    times["install"] = time.perf_counter() - start
    assert rc == 0, f"offline install failed (rc {rc}):\n{(tmp_path / 'install.log').read_text()[-3000:]}"
    manifest = json.loads((kit / "kit.json").read_text())
    assert manifest["warmed"][NOTEBOOK]["new_files"] > 0, "warming trained nothing into the kit's cache"
    cache_before = _snapshot(kit / "cache")

    venv_python = src / ".venv" / "bin" / "python"
    doctor, _ = _run([*wrap, str(venv_python), "-m", "gracekit", "doctor"], env, timeout=300)
    assert str(kit / "cache") in doctor.stdout, doctor.stdout

    # 3. the notebook at full size, as a JupyterLab kernel would run it: no GRACEKIT_CACHE in sight
    run, times["notebook"] = _run([*wrap, str(venv_python), str(src / "tools" / "run_notebook.py"),
                                   str(src / "notebooks" / f"{NOTEBOOK}.py")], env, timeout=900)
    assert "ok in" in run.stdout, run.stdout + run.stderr
    assert _snapshot(kit / "cache") == cache_before, "the offline run trained or rewrote cached models"
    stray = [p for p in (home / ".cache" / "gracekit").rglob("*") if p.is_file()]
    assert not stray, f"models were trained into the home cache instead of read from the kit: {stray[:3]}"
    assert not net_log.exists(), f"something tried the network:\n{net_log.read_text()[:1000]}"

    # 4. a kernel that JupyterLab starts finds the kit's cache too (loopback only: outside the cut
    #    namespace, whose loopback is down; the socket guard still refuses anything else)
    start = time.perf_counter()
    printed = _ask_jupyterlab_kernel(src / ".venv" / "bin" / "jupyter", src, env,
                                     "import sys, gracekit; print(sys.prefix); print(gracekit.cache_dir())")
    times["jupyterlab kernel"] = time.perf_counter() - start
    assert printed.split() == [str(src / ".venv"), str(kit / "cache")], printed
    assert not net_log.exists(), f"something tried the network:\n{net_log.read_text()[:1000]}"
    print(f"network cut with {'unshare -n' if wrap else 'a socket guard'}; seconds: "
          + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
