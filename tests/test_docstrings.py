"""Every example in the package's docstrings runs and prints what it shows (``doctest``).

The docstrings promise a runnable example; these tests hold them to it, module by module, on the active
backend (TensorFlow in the suite). Examples marked ``# doctest: +SKIP`` (a command run on files that do not
exist here, a TensorBoard server) are skipped by doctest itself.
"""

from __future__ import annotations

import doctest
import importlib
import io
import warnings
from pathlib import Path

import pytest
from test_house import modules

#: Every module of the package, as test_house reads them (``__main__`` runs the command when imported).
MODULES = sorted(
    "tbactviz" if name == "__init__" else f"tbactviz.{name}" for name in modules() if name != "__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_in_the_docstrings_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes files writes them here
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an example may warn (an all-NaN probe); its result is checked
        for test in doctest.DocTestFinder().find(module, name):
            if test.examples:
                runner.run(test, out=out.write)
    assert runner.failures == 0, out.getvalue()


def test_the_examples_are_found() -> None:
    """The finder sees the examples (the test above could not fail if it found none): about a hundred."""
    found = 0
    for name in MODULES:
        module = importlib.import_module(name)
        found += sum(1 for test in doctest.DocTestFinder().find(module, name) if test.examples)
    assert found >= 100, found
