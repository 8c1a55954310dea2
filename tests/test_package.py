"""Tests of the package surface: pinned __all__, light import, typing marker, version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tbactviz


def test_all_is_pinned() -> None:
    assert sorted(tbactviz.__all__) == [
        "ActivationCallback",
        "ActivationExtractor",
        "ActivationLogger",
        "AmbiguousLayerError",
        "LayerInfo",
        "LayerNotFoundError",
        "LogdirError",
        "NoDrawableLayerError",
        "ProbeError",
        "TbactvizError",
        "TbactvizWarning",
        "TileResult",
        "WriterClosedError",
        "__version__",
        "extract_activations",
        "layer_stats",
        "list_layers",
        "tile_activations",
    ]


def test_import_does_not_load_tensorflow_or_keras() -> None:
    code = (
        "import sys, tbactviz, tbactviz.grids.tiling, tbactviz.stats.arrays, tbactviz.events.naming;"
        "import tbactviz.errors;"
        "import tbactviz.cli, tbactviz.training.schedule;"
        "bad = [m for m in ('tensorflow', 'keras', 'tensorboard') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_resolves() -> None:
    for name in tbactviz.__all__:
        assert getattr(tbactviz, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    try:
        tbactviz.does_not_exist  # noqa: B018
    except AttributeError as exc:
        assert "does_not_exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")


def test_py_typed_marker_ships() -> None:
    assert (Path(tbactviz.__file__).parent / "py.typed").is_file()


def test_version_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tbactviz", "--version"], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == f"tbactviz {tbactviz.__version__}"


def test_the_package_ships_no_test_harness_and_starts_tensorboard_by_its_own_program() -> None:
    """TensorBoardServer lives in tests/_tensorboard.py; ``tbactviz board`` runs ``tensorboard.program``."""
    import inspect

    from tbactviz.tools import board

    assert not {"TensorBoardServer", "exec_tensorboard", "run_tensorboard"} & set(dir(board))
    source = inspect.getsource(board.serve_tensorboard)
    assert "program.TensorBoard(" in source and "subprocess" not in inspect.getsource(board)
