"""Summary values and events as serialized protocol buffer bytes, written without building messages.

One logged step of ResNet50V2 holds about 2,000 summary values. Building each as a protobuf message, copying
them all into one ``Event``, serializing it and freeing the messages took longer than computing the values.
The functions here write the same bytes directly in protobuf's wire format (a message field is its key, its
length as a varint and its bytes; fields in field-number order, proto3 defaults left out), with each
plugin's metadata serialized once. The result is byte for byte what ``SerializeToString`` gives for the
messages :mod:`tbactviz.events.writer` builds (``tests/events/test_wire.py`` compares them), and
:meth:`tbactviz.events.writer.EventWriter.write` takes these bytes in place of messages.

Example:
    >>> from tensorboard.compat.proto import summary_pb2
    >>> value = summary_pb2.Summary.Value.FromString(scalar(tag_field("sparsity/conv1"), 0.25))
    >>> value.tag, value.tensor.float_val[0], value.metadata.plugin_data.plugin_name
    ('sparsity/conv1', 0.25, 'scalars')
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Sequence

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, types_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tbactviz.events import naming

__all__ = [
    "HISTOGRAM_META",
    "IMAGE_META",
    "SCALAR_META",
    "event",
    "histogram",
    "image",
    "layer_tag",
    "scalar",
    "tag_field",
    "tbactviz_metadata",
    "tensor",
]

#: The metadata of the stock plugins, as ``tf.summary.image`` / ``histogram`` / ``scalar`` write it.
IMAGE_META = image_metadata.create_summary_metadata(display_name="", description="")
HISTOGRAM_META = histogram_metadata.create_summary_metadata(display_name="", description="")
SCALAR_META = scalar_metadata.create_summary_metadata(display_name="", description="")

_F32 = struct.Struct("<f")


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def _varint(n: int) -> bytes:
    """``n`` >= 0 as a protobuf varint."""
    if n < 0x80:
        return _ONE_BYTE[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(key: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its key byte(s), the payload's length and the payload."""
    return key + _varint(len(payload)) + payload


# Keys (field number << 3 | wire type) of the fields written here; all numbers below 16: one byte.
_VALUE_TAG, _VALUE_TENSOR, _VALUE_META = b"\x0a", b"\x42", b"\x4a"  # Summary.Value: tag 1, tensor 8, meta 9
_TENSOR_SHAPE, _TENSOR_CONTENT = b"\x12", b"\x22"  # TensorProto: dtype 1 (varint), shape 2, content 4
_TENSOR_FLOATS, _TENSOR_STRING = b"\x2a", b"\x42"  # float_val 5 (packed), string_val 8
_SHAPE_DIM = b"\x12"  # TensorShapeProto.dim 2; Dim.size 1 (varint)
_SUMMARY_VALUE, _EVENT_SUMMARY = b"\x0a", b"\x2a"  # Summary.value 1, Event.summary 5
_META = {
    name: _field(_VALUE_META, meta.SerializeToString())
    for name, meta in (("image", IMAGE_META), ("histogram", HISTOGRAM_META), ("scalar", SCALAR_META))
}
# A scalar's tensor up to its float: DT_FLOAT, shape (), then float_val's key and length (10 bytes in all).
_SCALAR_HEAD = _VALUE_TENSOR + b"\x0a" + b"\x08\x01" + b"\x12\x00" + _TENSOR_FLOATS + b"\x04"


def _dtype(dtype: int) -> bytes:
    return b"\x08" + _varint(dtype) if dtype else b""


@functools.lru_cache(maxsize=1 << 12)
def _shape(dims: tuple[int, ...]) -> bytes:
    return _field(
        _TENSOR_SHAPE, b"".join(_field(_SHAPE_DIM, b"\x08" + _varint(d) if d else b"") for d in dims)
    )


def _value(tag: bytes, tensor: list[bytes | memoryview], meta: bytes) -> bytes:
    """A summary value from its tag field, the parts of its tensor and its metadata field (one copy)."""
    return b"".join([tag, _VALUE_TENSOR, _varint(sum(map(len, tensor))), *tensor, meta])


def tag_field(tag: str) -> bytes:
    """The serialized ``tag`` field of a summary value (what the functions below start with)."""
    return _field(_VALUE_TAG, tag.encode()) if tag else b""


_LAYER_TAGS = {
    naming.IMAGE_PREFIX: naming.image_tag,
    naming.HISTOGRAM_PREFIX: naming.histogram_tag,
    naming.LAYOUT_PREFIX: naming.layout_tag,
    naming.CHANNELS_PREFIX: naming.channels_tag,
}


@functools.lru_cache(maxsize=1 << 14)
def layer_tag(prefix: str, path: str) -> bytes:
    """:func:`tag_field` of a layer's tag, remembered.

    Args:
        prefix: One of :data:`tbactviz.events.naming.RESERVED_PREFIXES`
        (:func:`tbactviz.events.naming.image_tag`, ...) or
            a stat name (:func:`tbactviz.events.naming.scalar_tag`).
        path: The layer's path.
    """
    make = _LAYER_TAGS.get(prefix)
    return tag_field(make(path) if make is not None else naming.scalar_tag(prefix, path))


@functools.lru_cache(maxsize=16)
def tbactviz_metadata(kind: str) -> summary_pb2.SummaryMetadata:
    """The metadata of tbactviz's own plugin for tensors of ``kind`` (``{"kind": kind, "version": 1}``)."""
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=naming.PLUGIN_NAME, content=json.dumps({"kind": kind, "version": 1}).encode()
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


@functools.lru_cache(maxsize=16)
def _tbactviz_meta(kind: str) -> bytes:
    return _field(_VALUE_META, tbactviz_metadata(kind).SerializeToString())


def scalar(tag: bytes, value: float) -> bytes:
    """:func:`tbactviz.events.writer.scalar_value`, serialized (``tag`` from :func:`tag_field`)."""
    try:
        packed = _F32.pack(value)
    except OverflowError:  # beyond float32: infinite, as protobuf's own conversion makes it
        packed = _F32.pack(math.copysign(math.inf, value))
    return tag + _SCALAR_HEAD + packed + _META["scalar"]


def histogram(tag: bytes, buckets: np.ndarray) -> bytes:
    """:func:`tbactviz.events.writer.histogram_value`, serialized (``buckets`` float64 ``(k, 3)``)."""
    arr = np.ascontiguousarray(buckets, dtype="<f8")
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"buckets has shape {arr.shape}; expected (k, 3)")
    return _value(tag, _tensor(types_pb2.DT_DOUBLE, arr), _META["histogram"])


def tensor(tag: bytes, array: np.ndarray, *, kind: str) -> bytes:
    """The bytes of :func:`~tbactviz.events.writer.tbactviz_tensor_value` (floats float32, ints int32)."""
    arr = np.asarray(array)
    integer = arr.dtype.kind in "iu"  # np.issubdtype(arr.dtype, np.integer)
    arr = np.ascontiguousarray(arr, dtype="<i4" if integer else "<f4")
    dtype = types_pb2.DT_INT32 if integer else types_pb2.DT_FLOAT
    return _value(tag, _tensor(dtype, arr), _tbactviz_meta(kind))


def _tensor(dtype: int, arr: np.ndarray) -> list[bytes | memoryview]:
    head = _dtype(dtype) + _shape(tuple(arr.shape))
    if not arr.size:
        return [head]
    return [head, _TENSOR_CONTENT, _varint(arr.nbytes), arr.data.cast("B")]  # the content, not copied


def image(tag: bytes, pngs: Sequence[bytes], width: int, height: int) -> bytes:
    """:func:`tbactviz.events.writer.image_value`, serialized: the strings ``[width, height, png_0, ...]``."""
    strings = [str(int(width)).encode(), str(int(height)).encode(), *pngs]
    parts: list[bytes | memoryview] = [_dtype(types_pb2.DT_STRING), _shape((len(strings),))]
    for string in strings:
        parts += (_TENSOR_STRING, _varint(len(string)), string)
    return _value(tag, parts, _META["image"])


def event(step: int, wall_time: float, values: Sequence[bytes]) -> bytes:
    """One serialized ``Event`` at ``step`` whose summary holds the serialized ``values`` (at least one)."""
    head: bytes = event_pb2.Event(wall_time=wall_time, step=int(step)).SerializeToString()  # fields 1, 2
    parts = [head, _EVENT_SUMMARY, b""]
    for value in values:
        parts += (_SUMMARY_VALUE, _varint(len(value)), value)
    parts[2] = _varint(sum(map(len, parts)) - len(head) - 1)
    return b"".join(parts)
