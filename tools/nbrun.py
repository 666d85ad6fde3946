"""Execute notebook sources (jupytext .py or .ipynb) headlessly, as the tests and benchmarks do."""
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["load_notebook", "execute_notebook", "notebook_errors"]


def load_notebook(path):
    """Read a jupytext percent .py or an .ipynb file into a notebook object."""
    import jupytext
    import nbformat

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"notebook not found: {path}")
    return jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)


def execute_notebook(path, timeout=600, allow_error_names=(), wall_timeout=1200, retries=1):
    """Run every cell in the notebook's folder; return (executed notebook, wall seconds).

    Args:
        path: notebook source.
        timeout: seconds allowed per cell.
        allow_error_names: exception names that do not stop the run (e.g. NotImplementedError
            in student copies); any other error still fails (check with ``notebook_errors``).
        wall_timeout: seconds for the whole run. A kernel that stops answering (seen rarely
            with nbclient on a loaded machine) is then shut down and the run retried.
        retries: how many fresh attempts after a stalled one.
    """
    import asyncio

    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    path = Path(path).resolve()
    for attempt in range(retries + 1):
        nb = load_notebook(path)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        # with allowed errors the kernel must not abort later cells (stop_on_error off);
        # the caller checks the error names with notebook_errors
        # ipc (unix socket) transport: kernels started side by side (parallel test workers, a
        # kernel beside a running JupyterLab) cannot race for the same TCP ports
        sockets = tempfile.mkdtemp(prefix="gracekit-kernel-")
        km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
        client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", startup_timeout=120,
                                resources={"metadata": {"path": str(path.parent)}},
                                allow_errors=bool(allow_error_names))
        start = time.perf_counter()
        try:
            asyncio.run(_execute_and_shut_down(client, km, wall_timeout))
        except asyncio.TimeoutError:
            if attempt == retries:
                raise TimeoutError(f"{path.name} did not finish within {wall_timeout} s "
                                   f"({attempt + 1} attempts)") from None
            continue
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
        return nb, time.perf_counter() - start


async def _execute_and_shut_down(client, km, wall_timeout):
    """Run the notebook; then stop its kernel (nbclient leaves a kernel it did not create running)."""
    import asyncio

    try:
        await asyncio.wait_for(client.async_execute(), wall_timeout)
    finally:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)


def notebook_errors(nb, allowed=()):
    """The error outputs of an executed notebook, excluding the ``allowed`` exception names."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error" and o.get("ename") not in allowed]
