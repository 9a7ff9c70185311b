"""Conventions every chapter notebook follows; ``tests/test_notebooks.py`` checks them.

Start a new chapter from these (there is deliberately no template notebook in ``notebooks/``: pytest
would collect it). The first *code* cell is exactly :data:`FIRST_CELL`; the notebook metadata contains
:data:`NOTEBOOK_METADATA`; the notebook is committed after a clean, top-to-bottom run on a CPU
(Kernel → Restart & Run All, or ``jupyter nbconvert --to notebook --execute --inplace``), so that
``pytest --nbval`` can re-run it and compare every stored output (strict mode).

Outputs that cannot repeat:

- memory addresses, ipykernel/site-packages paths, timings (``elapsed 1.2 s``, ``%time``, ``%timeit``),
  tqdm bars and rates, widget model ids are normalised by ``tests/nbval_sanitize.cfg``: nothing to do;
- anything else machine-dependent (the device line, a benchmark table) goes in a cell whose source has
  a line that is exactly ``# NBVAL_IGNORE_OUTPUT`` (nbval ignores ``# NBVAL_IGNORE_OUTPUT: why``;
  put the reason on the next line);
- a widget that draws into an ``Output`` (``interact``, ``interactive_output``, ``cogpe.widgets``):
  Jupyter stores the figure inside the widget state, while nbval, which has no widget front end, gets
  it as a cell output, so such a cell needs ``# NBVAL_IGNORE_OUTPUT`` too. Plain controls
  (``IntSlider``) compare fine; widget views themselves are never compared.

Execute with a kernel that saves widget state (JupyterLab with "Save Widget State Automatically", or
``jupyter execute --inplace notebooks/NN_topic.ipynb``, which nbclient provides), so that the book
shows the widgets.
"""

from __future__ import annotations

# The repository the Colab/Binder launch buttons and this cell point to (also `repository.url` in
# _config.yml; tests/test_notebooks.py checks they agree).
REPOSITORY_URL = "https://github.com/cogpe/cogpe"

# Installs cogpe only where it is not importable (Colab, a fresh kernel): never in CI or a local venv,
# so that cell needs no network there. Only cogpe (and the [viz] extras, which Colab already has) is
# installed: its floors-only requirements leave Colab's CUDA torch and ipywidgets 7.7 in place.
# The output ("device: cpu" / "device: cuda") depends on the machine, hence NBVAL_IGNORE_OUTPUT.
FIRST_CELL = """\
# NBVAL_IGNORE_OUTPUT
# Set-up. On Colab, or wherever cogpe is missing, install it from the repository; the installed torch is kept.
import importlib.util, subprocess, sys
if importlib.util.find_spec("cogpe") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "cogpe[viz] @ git+https://github.com/cogpe/cogpe@main"], check=True)
import torch
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print("device:", DEVICE)"""

# Colab opens the notebook on a GPU runtime; Jupyter, nbval and jupyter-book use the python3 kernel.
NOTEBOOK_METADATA = {
    "accelerator": "GPU",
    "colab": {"gpuType": "T4", "provenance": []},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
}
