"""Runyard's ``azureml`` compatibility namespace: Azure ML SDK v1 imports, Runyard's objects.

Scripts and notebook cells written for Azure ML keep ``from azureml.core import Run`` (and
``azureml.core.run``, ``azureml.core.compute``, ``azureml.data``, ``azureml.train`` …) and
get Runyard's classes. In the source tree this folder is ``runyard/_azureml``; it is shipped
as the top-level package ``azureml``: copied beside ``runyard`` into the SDK directory that
every run has first on its ``PYTHONPATH`` (execution/sdkdir.py), and installed with the
``runyard`` distribution on a client (pyproject.toml maps ``azureml`` to this folder).

How it wins over Microsoft's packages without hiding them:

* ``PYTHONPATH`` entries come before site-packages on ``sys.path``, and the import system
  takes the first ``azureml`` *regular* package (a folder with ``__init__.py``) it meets.
  So in a run this file is ``azureml/__init__.py``, even when the environment installed
  ``azureml-core`` / ``azureml-defaults`` (which ship a pkgutil-style ``azureml/__init__.py``
  in site-packages) or a PEP 420 ``azureml`` folder.
* Below, ``__path__`` is extended pkgutil-style: every other ``azureml`` folder on
  ``sys.path`` is appended *after* this one. A subpackage is looked up along ``__path__`` in
  order, so ``azureml.core``, ``azureml.data``, ``azureml.train`` and ``azureml.exceptions``
  are always ours (their folders are here, first), while any other subpackage the
  environment provides (``azureml.widgets``, ``azureml.opendatasets``, …) still imports
  from the environment.
* ``azureml.core`` and the other subpackages here are regular packages whose ``__path__``
  is not extended: ``azureml.core.<name>`` that Runyard does not provide fails with
  ModuleNotFoundError instead of loading half of Microsoft's ``azureml.core``, which would
  mix its Run with ours and could drop metrics without a word.

Importing it prints one line to stderr (in a run: the run's log) saying whose ``azureml``
this is. Every module here only re-exports ``runyard``: the behaviour lives there.
"""

from __future__ import annotations

import sys
from pkgutil import extend_path

from runyard import __version__ as _runyard_version

__path__ = extend_path(__path__, __name__)

print(
    f"azureml: Runyard's compatibility layer (runyard {_runyard_version}); "
    "azureml.core, azureml.data and azureml.train are Runyard's.",
    file=sys.stderr,
    flush=True,
)
