"""One real-browser test: JupyterLab on loopback, Debian's Chromium driven by Playwright.

It opens notebook 01, runs all cells, moves the blend slider with the keyboard and checks that the
shown numbers and the plot change. A screenshot is saved to test-artifacts/. Chromium must be the
system one (Playwright's own browser download cannot work offline); in CI a missing browser or a
failed start is a failure, elsewhere the test is skipped when no Chromium is installed.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = "01_negative_flips.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _chromium():
    path = os.environ.get("GRACEKIT_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("no system Chromium (install Debian's `chromium` package)")
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture()
def lab(tmp_path):
    """A JupyterLab server on loopback over a scratch copy of notebook 01 (outputs never land in git).

    Yields (url, chromium path): the browser is looked for first, so a missing one fails (in CI) or
    skips before a server starts.
    """
    pytest.importorskip("playwright.sync_api")
    chromium = _chromium()
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, work / NOTEBOOK)
    port = _free_port()
    env = {**os.environ, "GRACEKIT_FAST": "1", "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    # keep the system data dir (the widget extension lives there) while isolating config
    env.pop("JUPYTER_DATA_DIR")
    env.pop("MPLBACKEND", None)  # the kernel uses Jupyter's inline backend, as a learner's would
    settings = tmp_path / "settings"
    # render every cell (no windowing: off-screen outputs stay in the page) and ask no news question
    _write(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
           '{"windowingMode": "none"}')
    _write(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
           '{"fetchNews": "false", "checkForUpdates": false}')
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
         "--LabApp.expose_app_in_browser=True", "--allow-root", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
    if proc.poll() is not None:
        pytest.fail("JupyterLab exited: " + (tmp_path / "lab.log").read_text()[-2000:])
    yield url, chromium
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_notebook_runs_and_slider_moves_the_plot(lab):
    playwright = pytest.importorskip("playwright.sync_api")
    lab, chromium = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{lab}/lab/tree/{NOTEBOOK}", timeout=90_000)
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell", timeout=90_000)
            page.wait_for_selector(".jp-Notebook", timeout=90_000)
            # wait for the kernel, then run everything
            page.wait_for_function(
                "(() => { const w = window.jupyterapp.shell.currentWidget;"
                " return w && w.sessionContext && w.sessionContext.session &&"
                " w.sessionContext.session.kernel &&"
                " w.sessionContext.session.kernel.status === 'idle'; })()", timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            handle = page.wait_for_selector(".widget-slider .noUi-handle, .widget-slider .ui-slider-handle",
                                            timeout=240_000)
            readout = page.locator(".widget-html-content").filter(has_text="NFR").first
            readout.wait_for(timeout=60_000)
            plot = page.locator("img.widget-image").first
            plot.wait_for(timeout=60_000)
            before_text, before_src = readout.inner_text(), plot.get_attribute("src")
            assert "a = 1.00" in before_text
            handle.scroll_into_view_if_needed()
            handle.focus()
            for _ in range(10):
                page.keyboard.press("ArrowLeft")
            page.wait_for_function(
                "(t) => [...document.querySelectorAll('.widget-html-content')]"
                ".some(e => e.innerText.includes('NFR') && e.innerText !== t)", arg=before_text,
                timeout=60_000)
            page.wait_for_function(
                "(s) => { const i = document.querySelector('img.widget-image');"
                " return i && i.getAttribute('src') !== s; }", arg=before_src, timeout=60_000)
            after_text = readout.inner_text()
            assert after_text != before_text and "a = 1.00" not in after_text
            assert plot.get_attribute("src") != before_src
            page.screenshot(path=str(ARTIFACTS / "browser-01-slider.png"), full_page=False)
        finally:
            browser.close()
