"""Notebooks the browser tests write, and how to read their multiline fields."""
from __future__ import annotations

import nbformat

PYTHON3 = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)",
                          "language": "python"}}


def notebook(*cells) -> dict:
    """A v4 notebook on the python3 kernel (JupyterLab asks for no kernel on open)."""
    nb = nbformat.v4.new_notebook(metadata=PYTHON3)
    nb.cells = list(cells)
    return nb


def text(value: str | list[str]) -> str:
    """A multiline field: the REST model has a string, the stored JSON may have lines."""
    return value if isinstance(value, str) else "".join(value)


def stream_text(cell: dict) -> str:
    return "".join(text(o.get("text", "")) for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")
