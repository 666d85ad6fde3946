"""Execute notebook sources (jupytext .py or .ipynb) headlessly, as the tests and benchmarks do."""
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


def execute_notebook(path, timeout=600, allow_error_names=()):
    """Run every cell in the notebook's folder; return (executed notebook, wall seconds).

    Args:
        path: notebook source.
        timeout: seconds allowed per cell.
        allow_error_names: exception names that do not stop the run (e.g. NotImplementedError
            in student copies).
    """
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = load_notebook(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", startup_timeout=120,
                            resources={"metadata": {"path": str(path.parent)}},
                            allow_error_names=list(allow_error_names))
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def notebook_errors(nb, allowed=()):
    """The error outputs of an executed notebook, excluding the ``allowed`` exception names."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error" and o.get("ename") not in allowed]
