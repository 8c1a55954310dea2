"""Tests of the package surface: pinned __all__, light import, typing marker, version."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import tbactviz
from tbactviz._moved import MOVED


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


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_the_old_module_paths_import_as_the_new_modules(old: str, new: str) -> None:
    """Every 0.1 path still imports for one release: the same module object, a DeprecationWarning naming the
    new path, pointing at the importing line."""
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} moved to {new}") as caught:
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert caught[0].filename == __file__


def test_the_old_paths_work_in_every_import_form(monkeypatch: pytest.MonkeyPatch) -> None:
    for old in ("tbactviz.tiling", "tbactviz.data"):
        monkeypatch.delitem(sys.modules, old, raising=False)
        monkeypatch.delattr(tbactviz, old.rpartition(".")[2], raising=False)
    with pytest.warns(DeprecationWarning):
        from tbactviz.data import make_shapes  # type: ignore[import-not-found]

        from tbactviz import tiling  # type: ignore[attr-defined]
    from tbactviz.grids.tiling import tile_activations
    from tbactviz.tools.data import make_shapes as moved_make_shapes

    assert tiling.tile_activations is tile_activations and make_shapes is moved_make_shapes


def test_the_old_modules_now_folders_reexport_their_names() -> None:
    from tbactviz.layers import LayerInfo, list_layers
    from tbactviz.stats import STAT_NAMES, histogram_buckets, layer_stats

    assert list_layers is tbactviz.list_layers and LayerInfo is tbactviz.LayerInfo
    assert layer_stats is tbactviz.layer_stats and callable(histogram_buckets) and "sparsity" in STAT_NAMES


def test_the_package_ships_no_test_harness_and_starts_tensorboard_by_its_own_program() -> None:
    """TensorBoardServer lives in tests/_tensorboard.py; ``tbactviz board`` runs ``tensorboard.program``."""
    import inspect

    from tbactviz.tools import board

    assert not {"TensorBoardServer", "exec_tensorboard", "run_tensorboard"} & set(dir(board))
    source = inspect.getsource(board.serve_tensorboard)
    assert "program.TensorBoard(" in source and "subprocess" not in inspect.getsource(board)
