"""What leaves the device: a probe's results packed into one flat buffer per dtype, copied, split on the host.

On a GPU every conversion of a device array to numpy is a synchronous copy with its own latency, so
thousands of small ones cost more than the whole forward pass. :class:`Packing` is the plan, made when the
probe is traced, by which everything a chunk returns leaves the device in as many copies as there are
dtypes; :func:`to_numpy` makes each copy and counts it (:func:`transfers`).

This module imports keras (for its tree utilities and ``keras.ops``) and numpy; the backend only inside
functions.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

__all__ = ["Joined", "Packing", "dims_of", "is_tensor", "to_numpy", "transfers"]


_COPIES = [0]
_COPIES_LOCK = threading.Lock()


def transfers() -> int:
    """Arrays :func:`to_numpy` has converted so far in this process, on every probe and thread.

    On a GPU each is one copy off the device (on a CPU, a view where the backend allows it). The probe
    converts one array per dtype per chunk when it reduces (:class:`Packing`); count a chunk's copies as the
    difference of two readings around it.

    Example:
        >>> before = transfers()
        >>> _ = to_numpy(keras.ops.ones((2,)))
        >>> transfers() - before
        1
    """
    return _COPIES[0]


def to_numpy(tensor: Any) -> np.ndarray:
    """A read-only numpy array of a backend tensor: a zero-copy view where possible (CPU), else a copy.

    Each conversion of a backend tensor is counted (:func:`transfers`).
    """
    if isinstance(tensor, np.ndarray):
        return tensor
    with _COPIES_LOCK:
        _COPIES[0] += 1
    name = type(tensor).__module__
    if name.startswith("torch"):
        array = tensor.detach().cpu().numpy()
    elif name.startswith("tensorflow"):
        try:  # ``Tensor.numpy()`` copies; a memoryview of an eager CPU tensor does not
            array = np.asarray(memoryview(tensor))
        except (TypeError, ValueError):  # bfloat16 and other dtypes without a buffer format, non-CPU tensors
            array = tensor.numpy()
    else:
        array = np.asarray(tensor)
    view: np.ndarray = array.view()
    view.flags.writeable = False
    return view


def is_tensor(leaf: Any) -> bool:
    """Whether ``leaf`` is a tensor (or a tracer, or an array): it has a shape and a dtype."""
    return hasattr(leaf, "shape") and hasattr(leaf, "dtype")


def dims_of(shape: Any) -> tuple[int | None, ...]:
    """A shape as a tuple of ints, None where a dimension is unknown."""
    return tuple(None if d is None else int(d) for d in tuple(shape))


class Packing:
    """How a nest of results leaves the device: one flat buffer per dtype, split again on the host.

    Made once per traced shape of the results, from their dtypes and static shapes (when the probe is
    traced; on PyTorch at the first eager run for the inputs' shapes). On the device, :meth:`pack`
    flattens each tensor and concatenates those of one dtype, in the nest's order; on the host,
    :meth:`unpack` cuts the copied buffers into read-only views of the tensors' shapes and rebuilds the
    nest. Dimensions unknown at trace time (TensorFlow's open batch dimension, e.g. the drawn samples of a
    chunk) travel as int32 values at the head of the int32 buffer (one is added if no result is int32).
    Leaves that are not tensors (``None``, Python numbers) stay in the plan and come back as they are.

    Args:
        nest: The results (tensors or tracers of the active backend), e.g. ``{path: {"partials": ...}}``.

    Example:
        >>> plan = Packing({"a": keras.ops.ones((2, 3)), "b": keras.ops.zeros((4,), "int32"), "c": None})
        >>> plan.dtypes
        ('float32', 'int32')
        >>> buffers = [to_numpy(b) for b in plan.pack({"a": keras.ops.ones((2, 3)),
        ...            "b": keras.ops.zeros((4,), "int32"), "c": None})]
        >>> [b.shape for b in buffers]
        [(6,), (4,)]
        >>> out = plan.unpack(buffers)
        >>> out["a"].shape, out["b"].dtype.name, out["c"]
        ((2, 3), 'int32', None)
    """

    def __init__(self, nest: Any) -> None:
        leaves = keras.tree.flatten(nest)
        self._structure = keras.tree.map_structure(lambda _: 0, nest)
        dtypes: list[str] = []
        entries: list[tuple[int, tuple[int | None, ...]] | None] = []
        self._constants: dict[int, Any] = {}
        dynamic: list[tuple[int, int]] = []
        for i, leaf in enumerate(leaves):
            if not is_tensor(leaf):
                entries.append(None)
                self._constants[i] = leaf
                continue
            dtype = keras.backend.standardize_dtype(leaf.dtype)
            shape = dims_of(leaf.shape)
            dynamic.extend((i, axis) for axis, d in enumerate(shape) if d is None)
            if dtype not in dtypes:
                dtypes.append(dtype)
            entries.append((dtypes.index(dtype), shape))
        if dynamic and "int32" not in dtypes:
            dtypes.append("int32")
        self.dtypes: tuple[str, ...] = tuple(dtypes)
        self._entries = tuple(entries)
        self._dynamic = tuple(dynamic)
        self._dims_group = dtypes.index("int32") if dynamic else -1
        self._layouts: dict[tuple[int, ...], list[tuple[int, int, int, tuple[int, ...]] | None]] = {}
        self._sizes: dict[tuple[int, ...], list[int]] = {}

    @property
    def leaves(self) -> int:
        """Number of results packed (tensors only)."""
        return sum(entry is not None for entry in self._entries)

    def pack(self, nest: Any) -> list[Any]:
        """The results as one flat tensor per dtype (:attr:`dtypes` order); runs where they live."""
        from keras import ops

        leaves = keras.tree.flatten(nest)
        pieces: list[list[Any]] = [[] for _ in self.dtypes]
        if self._dynamic:
            dims = [_runtime_dim(leaves[i], axis) for i, axis in self._dynamic]
            pieces[self._dims_group].append(ops.cast(ops.stack(dims), "int32"))
        for leaf, entry in zip(leaves, self._entries, strict=True):
            if entry is not None:
                pieces[entry[0]].append(ops.reshape(leaf, (-1,)))
        return [p[0] if len(p) == 1 else ops.concatenate(p, axis=0) for p in pieces]

    def _layout(self, dims: tuple[int, ...]) -> list[tuple[int, int, int, tuple[int, ...]] | None]:
        """Per leaf ``(buffer, start, stop, shape)`` for the unknown dimensions ``dims`` (cached)."""
        layout = self._layouts.get(dims)
        if layout is not None:
            return layout
        filled = dict(zip(self._dynamic, dims, strict=True))
        offsets = [0] * len(self.dtypes)
        if self._dynamic:
            offsets[self._dims_group] = len(self._dynamic)
        layout = []
        for i, entry in enumerate(self._entries):
            if entry is None:
                layout.append(None)
                continue
            group, shape = entry
            real = tuple(filled[i, axis] if d is None else d for axis, d in enumerate(shape))
            size = math.prod(real)
            layout.append((group, offsets[group], offsets[group] + size, real))
            offsets[group] += size
        self._layouts[dims], self._sizes[dims] = layout, offsets
        return layout

    def sizes(self) -> list[int]:
        """Values per buffer when no dimension is unknown (a plan made by a JAX trace)."""
        self._layout(())
        return self._sizes[()]

    def unpack(self, buffers: Sequence[np.ndarray]) -> Any:
        """The nest again, from the host copies of :meth:`pack`'s buffers: views, no copy.

        Raises:
            ValueError: The buffers do not hold what the plan says (their sizes differ).
        """
        dims: tuple[int, ...] = ()
        if self._dynamic:
            dims = tuple(int(d) for d in buffers[self._dims_group][: len(self._dynamic)])
        layout = self._layout(dims)
        sizes = [int(np.size(b)) for b in buffers]
        if sizes != self._sizes[dims]:
            raise ValueError(f"packed buffers of sizes {sizes} do not match the plan ({self._sizes[dims]})")
        leaves = [
            self._constants.get(i)
            if place is None
            else buffers[place[0]][place[1] : place[2]].reshape(place[3])
            for i, place in enumerate(layout)
        ]
        return keras.tree.pack_sequence_as(self._structure, leaves)


def _runtime_dim(tensor: Any, axis: int) -> Any:
    """A dimension of ``tensor`` as a scalar tensor of the graph (TensorFlow), else as an int."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.shape(tensor)[axis]
    return int(tensor.shape[axis])


class Joined:
    """How per-layer packed buffers were joined into one buffer per dtype (JAX, a
    :class:`~tbactviz.model.compiled.LayerReduce`), to split them again on the host."""

    def __init__(self, dtypes: list[str], parts: list[tuple[str, Packing, list[Any]]]) -> None:
        self.dtypes = dtypes
        self.parts = [(path, plan) for path, plan, _ in parts]

    def unpack(self, buffers: list[np.ndarray]) -> dict[str, Any]:
        offsets = dict.fromkeys(self.dtypes, 0)
        result: dict[str, Any] = {}
        index = {d: i for i, d in enumerate(self.dtypes)}
        for path, plan in self.parts:
            mine = []
            for dtype, size in zip(plan.dtypes, plan.sizes(), strict=True):
                start = offsets[dtype]
                mine.append(buffers[index[dtype]][start : start + size])
                offsets[dtype] = start + size
            result[path] = plan.unpack(mine)
        return result
