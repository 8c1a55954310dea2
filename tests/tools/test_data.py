"""tbactviz.tools.data: probe files for the command line and the synthetic demo data set (numpy, Pillow)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tbactviz import TbactvizError
from tbactviz.tools.data import (
    CLASS_NAMES,
    InputFileError,
    SizeError,
    is_array_file,
    load_array,
    load_image,
    load_images,
    make_shapes,
    parse_size,
)

# -- parse_size ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("224x224", (224, 224)),
        ("32X48", (32, 48)),
        (" 7 x 9 ", (7, 9)),
        ("64", (64, 64)),
        ("3,5", (3, 5)),
        (16, (16, 16)),
        ((8, 12), (8, 12)),
    ],
)
def test_parse_size_accepts_the_usual_forms(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text", ["", "x", "abc", "0x10", "10x0", "-3x3", "1.5x2", "2x3x4", "99999x1", (1, 2, 3)]
)
def test_parse_size_rejects_bad_sizes_naming_the_argument(text):
    with pytest.raises(SizeError, match=r"--size=.*expected HxW"):
        parse_size(text, argument="--size")


@pytest.mark.parametrize("text", [True, None, 2.5])
def test_parse_size_rejects_a_wrong_type_with_a_type_error(text):
    with pytest.raises(TypeError, match=rf"--size={text!r} is not valid; expected a size"):
        parse_size(text, argument="--size")


def test_size_error_is_a_value_error_and_a_tbactviz_error():
    assert issubclass(SizeError, ValueError) and issubclass(SizeError, TbactvizError)
    assert issubclass(InputFileError, OSError) and issubclass(InputFileError, TbactvizError)


# -- images --------------------------------------------------------------------------------------------------


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    out = {}
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[..., 0] = 255
    out["png"] = tmp_path / "red.png"
    Image.fromarray(rgb).save(out["png"])
    out["jpg"] = tmp_path / "red.jpg"
    Image.fromarray(rgb).save(out["jpg"], quality=95)
    out["grey"] = tmp_path / "grey.png"
    Image.fromarray(np.full((10, 10), 128, np.uint8)).save(out["grey"])
    out["rgba"] = tmp_path / "rgba.png"
    Image.fromarray(np.full((10, 10, 4), 200, np.uint8)).save(out["rgba"])
    out["palette"] = tmp_path / "palette.gif"
    Image.fromarray(rgb).convert("P").save(out["palette"])
    out["corrupt"] = tmp_path / "corrupt.jpg"
    out["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    out["text"] = tmp_path / "notes.png"
    out["text"].write_text("hello")
    return out


def test_load_image_reads_png_and_jpg_as_float_rgb_0_255(images):
    png = load_image(images["png"])
    assert png.shape == (20, 40, 3) and png.dtype == np.float32
    assert png[..., 0].min() == 255.0 and png[..., 1:].max() == 0.0
    jpg = load_image(images["jpg"])
    assert jpg.shape == (20, 40, 3) and abs(float(jpg[..., 0].mean()) - 254) < 2


def test_load_image_resizes_to_height_width(images):
    assert load_image(images["png"], (7, 11)).shape == (7, 11, 3)


@pytest.mark.parametrize("kind", ["grey", "rgba", "palette"])
def test_load_image_converts_other_modes_to_rgb(images, kind):
    assert load_image(images[kind]).shape[-1] == 3


def test_load_image_grey_channel(images):
    out = load_image(images["png"], (4, 4), channels=1)
    assert out.shape == (4, 4, 1)
    with pytest.raises(ValueError, match="channels=4"):
        load_image(images["png"], channels=4)


@pytest.mark.parametrize("kind", ["corrupt", "text"])
def test_load_image_unreadable_file_names_the_file(images, kind):
    with pytest.raises(InputFileError, match="not a readable image") as info:
        load_image(images[kind])
    assert info.value.path == str(images[kind])
    assert str(images[kind]) in str(info.value)


def test_load_image_missing_file_and_directory(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(InputFileError, match="is a directory"):
        load_image(tmp_path)


def test_load_images_stacks_and_checks_sizes(images):
    batch = load_images([images["png"], images["jpg"]], (8, 8))
    assert batch.shape == (2, 8, 8, 3)
    with pytest.raises(InputFileError, match="different sizes"):
        load_images([images["png"], images["grey"]])
    with pytest.raises(ValueError, match=r"paths=\[\] is not valid; expected at least one image file"):
        load_images([])
    with pytest.raises(TypeError, match=r"paths=3 is not valid; expected an image file"):
        load_images(3)


def test_load_images_takes_a_single_path_as_a_batch_of_one(images):
    """A str is one file, not a sequence of one-letter paths ("input '/' is a directory" before)."""
    for path in (str(images["png"]), Path(images["png"])):
        batch = load_images(path, (8, 8))
        assert batch.shape == (1, 8, 8, 3)
        np.testing.assert_array_equal(batch[0], load_image(images["png"], (8, 8)))


def test_a_corrupt_image_fails_when_opened_with_its_name(tmp_path):
    from tbactviz.tools.data import open_image

    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (10, 200, 30)).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:-40])  # cut inside the image data
    assert open_image(good).size == (64, 64)
    with pytest.raises(InputFileError, match=r"broken\.png"):
        open_image(broken)


# -- arrays --------------------------------------------------------------------------------------------------


def test_is_array_file():
    assert is_array_file("a/b/probe.NPY") and not is_array_file("cat.jpg")


def test_load_array_round_trip_and_errors(tmp_path):
    good = tmp_path / "x.npy"
    np.save(good, np.arange(12, dtype=np.int16).reshape(3, 4))
    arr = load_array(good)
    assert arr.shape == (3, 4) and arr.dtype == np.int16
    with pytest.raises(InputFileError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not numpy")
    with pytest.raises(InputFileError, match=r"not a readable \.npy"):
        load_array(bad)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputFileError, match=r"not a readable \.npy"):  # never unpickled
        load_array(objects)
    strings = tmp_path / "strings.npy"
    np.save(strings, np.array(["a", "b"]))
    with pytest.raises(InputFileError, match="numeric"):
        load_array(strings)
    empty = tmp_path / "empty.npy"
    np.save(empty, np.zeros((0, 3)))
    with pytest.raises(InputFileError, match="empty"):
        load_array(empty)


# -- the synthetic shapes ------------------------------------------------------------------------------------


def test_make_shapes_shapes_dtypes_ranges():
    x, y = make_shapes(64, size=32, seed=0)
    assert x.shape == (64, 32, 32, 3) and x.dtype == np.float32
    assert y.shape == (64,) and y.dtype == np.int64
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert np.isfinite(x).all()
    assert np.bincount(y, minlength=4).tolist() == [16, 16, 16, 16]  # balanced


def test_make_shapes_is_deterministic_by_seed():
    a, ya = make_shapes(50, size=48, seed=3)
    b, yb = make_shapes(50, size=48, seed=3)
    c, _ = make_shapes(50, size=48, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a, c)


def test_make_shapes_draws_a_visible_shape_in_every_image():
    x, _ = make_shapes(200, size=32, seed=1, noise=0.0)
    flat = x.reshape(len(x), -1, 3)
    for img in flat:
        colours = np.unique(img, axis=0)
        assert len(colours) == 2  # background and shape, nothing else without noise
        assert np.linalg.norm(colours[0] - colours[1]) >= 0.35
    # the shape covers a sensible part of the image (radius 0.2..0.4 of the side)
    bg = flat[:, :1, :]
    covered = (np.abs(flat - bg).sum(-1) > 0).mean(1)
    covered = np.minimum(covered, 1 - covered)  # the corner pixel may be inside the shape
    assert covered.min() > 0.02 and covered.max() < 0.6


def test_make_shapes_class_areas_differ_as_shapes_do():
    x, y = make_shapes(400, size=48, seed=2, noise=0.0)
    bg = x[:, :1, :1, :]
    area = (np.abs(x - bg).sum(-1) > 0).mean((1, 2))
    means = [float(area[y == k].mean()) for k in range(4)]
    circle, square, triangle, cross = means
    # areas in units of r^2: triangle 1.52, cross 1.93, square 2.56, circle 3.14
    assert triangle < cross < square < circle


def test_make_shapes_classes_subset_and_labels_index_it():
    _, y = make_shapes(30, classes=("cross", "circle"))
    assert set(y.tolist()) == {0, 1}
    assert CLASS_NAMES == ("circle", "square", "triangle", "cross")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"n": 0}, ValueError),
        ({"n": 2.5}, TypeError),
        ({"size": 4}, ValueError),
        ({"noise": -1.0}, ValueError),
        ({"noise": True}, TypeError),
        ({"classes": ()}, ValueError),
        ({"classes": ("hexagon",)}, ValueError),
        ({"classes": ("circle", "circle")}, ValueError),
    ],
)
def test_make_shapes_rejects_bad_arguments(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        make_shapes(**{"n": 10, **kwargs})


def test_make_shapes_is_fast():
    make_shapes(10)
    start = time.perf_counter()
    make_shapes(3000, size=32)
    assert time.perf_counter() - start < 1.5  # typically ~0.2 s; generous for a loaded CI machine


def test_data_module_imports_neither_tensorflow_nor_keras():
    code = "import sys, tbactviz.tools.data; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


# -- images of more than 8 bits keep their dynamic range -----------------------------------------------------


def _gradient16(path: Path) -> np.ndarray:
    """A 16-bit grey PNG (a horizontal gradient over the full 0..65535 range), written by Pillow."""
    grad = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (16, 1))
    Image.fromarray(grad).save(path)
    with Image.open(path) as img:
        assert img.mode in ("I;16", "I"), img.mode  # really 16-bit on disk
    return grad


def test_16_bit_png_keeps_its_range_scaled_by_257(tmp_path):
    grad = _gradient16(tmp_path / "g16.png")
    rgb = load_image(tmp_path / "g16.png")
    assert rgb.shape == (16, 64, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[..., 0], grad / 257.0, atol=1e-3)  # 65535 -> 255, 0 -> 0
    assert rgb.std() > 50  # not Pillow's flat white of convert("RGB")
    grey = load_image(tmp_path / "g16.png", (8, 32), channels=1)
    assert grey.shape == (8, 32, 1) and grey.min() < 10 and grey.max() > 245


def test_float_tiff_in_unit_range_is_multiplied_by_255(tmp_path):
    values = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (8, 1))
    Image.fromarray(values).save(tmp_path / "f.tiff")
    out = load_image(tmp_path / "f.tiff", channels=1)
    np.testing.assert_allclose(out[..., 0], values * 255, atol=1e-3)


def test_float_and_32_bit_images_outside_known_ranges_use_their_own_range(tmp_path):
    wide = np.tile(np.linspace(-5, 1000, 16, dtype=np.float32), (4, 1))
    wide[0, 0] = np.nan
    Image.fromarray(wide).save(tmp_path / "wide.tiff")
    out = load_image(tmp_path / "wide.tiff", channels=1)[..., 0]
    assert np.isfinite(out).all() and out[0, 0] == 0.0
    assert out[1, 0] == pytest.approx(0.0) and out[1, -1] == pytest.approx(255.0)
    big = np.tile(np.arange(16, dtype=np.int32) * 100_000, (4, 1))
    Image.fromarray(big).save(tmp_path / "big.tiff")
    out = load_image(tmp_path / "big.tiff", channels=1)[..., 0]
    assert out.min() == pytest.approx(0.0) and out.max() == pytest.approx(255.0)
