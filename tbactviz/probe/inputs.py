"""Probe inputs: checking them against the model before anything runs, slicing and describing them.

A probe is what ``model.predict`` takes: an array or tensor ``(n, ...)``, a list of them (multi-input, in
``model.inputs`` order) or a dict keyed by input name. Before the probe runs, it is checked against the
inputs of a model that has them (Functional models, built Sequential ones): a missing dict key, a list of the
wrong length or an array whose shape cannot fit its input is a :class:`~tbactviz.errors.ProbeError` naming
both shapes, instead of a traced-function traceback.

This module imports keras (for its tree utilities and tensor types) and numpy only.

Example:
    >>> import numpy as np
    >>> num_samples({"a": np.zeros((3, 2)), "b": np.zeros((3, 5))})
    3
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np

from tbactviz.errors import ProbeError, TbactvizError, close_matches, is_out_of_memory
from tbactviz.model.compiled import input_errors, internal_error, prepare

__all__ = [
    "CheckedProbe",
    "check_inputs",
    "conform",
    "describe_inputs",
    "expected",
    "graph_inputs",
    "keras_message",
    "num_samples",
    "probe_errors",
    "slice_samples",
]


def _leaves(inputs: Any) -> list[Any]:
    return list(keras.tree.flatten(inputs))


def _dtype_name(leaf: Any) -> tuple[str, bool]:
    """The dtype name of an array/tensor leaf and whether it holds real numbers (bool, int, float)."""
    dtype = getattr(leaf, "dtype", None)
    if (
        dtype is not None
        and not isinstance(dtype, np.dtype)
        and type(dtype).__module__.split(".")[0]
        in (
            "tensorflow",
            "torch",
            "jax",
            "jaxlib",
        )
    ):
        try:
            name = keras.backend.standardize_dtype(dtype)
        except ValueError:
            return str(dtype), False
        return name, name == "bool" or name.startswith(("int", "uint", "float", "bfloat"))
    try:
        dtype = np.dtype(dtype) if dtype is not None else np.asarray(leaf).dtype
    except TypeError:  # a framework dtype numpy does not know (e.g. torch): let the conversion decide
        return str(dtype), True
    # bfloat16 & co. (ml_dtypes) have kind 'V' and a name tensorflow knows.
    real = dtype.kind in "biuf" or dtype.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2")
    return str(dtype), real


def _check_leaf_dtype(leaf: Any, argument: str) -> None:
    name, real = _dtype_name(leaf)
    if not real:
        raise ProbeError(
            f"{argument} has dtype {name}; expected real numbers: a float array, or integer/bool images "
            "(uint8 images are cast by the model's Input layer, as model.predict does)."
        )


def _num_samples(inputs: Any, argument: str = "inputs") -> int:
    leaves = _leaves(inputs)
    if not leaves:
        raise ProbeError(
            f"{argument} is empty ({type(inputs).__name__} with no arrays); pass the probe samples."
        )
    sizes = []
    for leaf in leaves:
        shape = getattr(leaf, "shape", None)
        if shape is None:
            leaf = np.asarray(leaf)
            shape = leaf.shape
            if leaf.dtype == object:
                kind = type(leaf.item() if leaf.ndim == 0 else leaf).__name__
                raise ProbeError(
                    f"{argument} contains an object of type {kind!r}; pass arrays or tensors (n, ...), a "
                    "list of them (one per model input) or a dict keyed by input name, as model.predict "
                    "takes (datasets and generators are not supported)."
                )
        if len(shape) == 0:
            raise ProbeError(f"{argument} contains a scalar; every input needs a leading batch axis.")
        _check_leaf_dtype(leaf, argument)
        sizes.append(int(shape[0]))
    if len(set(sizes)) != 1:
        raise ProbeError(
            f"{argument}: all inputs must have the same number of samples; received sizes {sizes}."
        )
    if sizes[0] == 0:
        raise ProbeError(f"{argument} has 0 samples; pass at least one probe sample.")
    return sizes[0]


def _slice(inputs: Any, start: int, stop: int) -> Any:
    if isinstance(inputs, Mapping):
        return {key: value[start:stop] for key, value in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return [value[start:stop] for value in inputs]
    return inputs[start:stop]


def describe_inputs(inputs: Any) -> str:
    """A short description of a probe for error messages: dtypes and shapes, in the probe's structure.

    Example:
        >>> describe_inputs({"image": np.zeros((2, 8, 8, 3), np.uint8)})
        "{'image': uint8[2, 8, 8, 3]}"
    """

    def one(leaf: Any) -> str:
        dtype = getattr(leaf, "dtype", None)
        name = getattr(dtype, "name", None) or type(leaf).__name__
        return f"{name}{list(np.shape(leaf))}"

    if isinstance(inputs, Mapping):
        return "{" + ", ".join(f"{k!r}: {one(v)}" for k, v in inputs.items()) + "}"
    if isinstance(inputs, (list, tuple)):
        return "[" + ", ".join(one(v) for v in inputs) + "]"
    return one(inputs)


def expected(model: keras.Model) -> str:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return ""
    if not inputs:
        return ""
    return "; the model expects " + ", ".join(f"{t.name} {tuple(t.shape)}" for t in inputs)


def keras_message(exc: BaseException, limit: int = 400) -> str:
    """The gist of an error raised inside the traced forward pass, without tf.function's traceback."""
    text = str(exc)
    if "in user code:" in text:  # tf.function wraps the error with the user-code traceback: keep the last
        tail = re.split(r"\n\s*\w+(?:Error|Exception): ", text)  # 'XxxError: message' of the chain
        if len(tail) > 1:
            text = tail[-1]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def graph_inputs(model: keras.Model) -> tuple[list[str], list[Any], bool] | None:
    """``(names, input tensors, keyed_by_dict)`` of a model whose inputs are known, else None.

    ``names`` are the keys a dict probe must have: the keys of the dict a Functional model was built with,
    or the names of its ``Input`` tensors otherwise (what Keras maps a dict probe by).
    """
    try:
        flat = list(model.inputs or [])
    except (AttributeError, ValueError):
        return None
    if not flat or not all(isinstance(t, keras.KerasTensor) for t in flat):
        return None
    struct: Any = None
    if not isinstance(model, keras.Sequential):
        try:
            struct = model.input
        except (AttributeError, ValueError):
            struct = None
    if isinstance(struct, Mapping) and all(isinstance(t, keras.KerasTensor) for t in struct.values()):
        return [str(k) for k in struct], list(struct.values()), True
    if isinstance(struct, (list, tuple)) and len(keras.tree.flatten(struct)) != len(struct):
        return None  # nested input structures: let Keras check them
    return [t.name for t in flat], flat, False


def _shape_of(leaf: Any) -> tuple[int | None, ...]:
    try:
        shape = tuple(leaf.shape)
    except (TypeError, ValueError):  # unknown rank (tf.TensorShape(None))
        return ()
    return tuple(None if d is None else int(d) for d in shape)


def _compatible(got: Sequence[int | None], want: Sequence[int | None]) -> bool:
    if len(got) != len(want):
        return False
    return all(g is None or w is None or g == w for g, w in zip(got, want, strict=True))


def _check_shape(label: str, leaf: Any, tensor: Any) -> None:
    """Raise a ProbeError when a probe array cannot fit a model input (Keras' own rank +-1 rule allowed)."""
    shape = _shape_of(leaf)
    want = tuple(tensor.shape)
    got, exp = shape[1:], want[1:]
    fits = (
        _compatible(got, exp)
        or (len(got) == len(exp) + 1 and got[-1] == 1 and _compatible(got[:-1], exp))  # Keras squeezes
        or (len(got) + 1 == len(exp) and exp and exp[-1] == 1 and _compatible(got, exp[:-1]))  # expands
    )
    if fits:
        return
    hint = ""
    if len(shape) == len(exp):
        hint = (
            " It has one axis fewer than the input: if it is one sample, add the batch axis with x[None] "
            "(np.expand_dims(x, 0))."
        )
    elif len(got) == len(exp):
        bad = [i + 1 for i, (g, w) in enumerate(zip(got, exp, strict=True)) if w is not None and g != w]
        hint = f" Axis {bad[0]} differs ({got[bad[0] - 1]} instead of {exp[bad[0] - 1]})."
    raise ProbeError(
        f"{label} has shape {shape}, which does not fit the model's input {tensor.name!r} of shape {want} "
        f"(batch first; None = any size).{hint}"
    )


def conform(model: keras.Model, inputs: Any, argument: str = "inputs") -> tuple[Any, list[str]]:
    """Check a probe against the model's inputs before running it; return it (a one-element list for a
    single-input model unwrapped) and the dict keys the model does not use.

    Models whose inputs are unknown (subclassed, unbuilt) are not checked here; the forward pass checks them.

    Raises:
        ProbeError: A missing dict key, a list of the wrong length, a single array for a multi-input model,
            or an array whose shape cannot fit its input. The message names the input, the shape received and
            the shape expected.
    """
    known = graph_inputs(model)
    if known is None:
        return inputs, []
    names, tensors, _ = known
    listed = ", ".join(f"{n!r} {tuple(t.shape)}" for n, t in zip(names, tensors, strict=True))
    unused: list[str] = []
    if isinstance(inputs, Mapping):
        keys = [str(k) for k in inputs]
        missing = [n for n in names if n not in inputs]
        if missing:
            spare = [k for k in keys if k not in names]
            near = {m: close_matches(m, spare, n=1) for m in missing}
            hints = [f"{near[m][0]!r} for {m!r}" for m in missing if near[m]]
            raise ProbeError(
                f"{argument} has no key {', '.join(repr(m) for m in missing)}: the model's inputs are "
                f"{listed}; received keys {keys}." + (f" Did you mean {', '.join(hints)}?" if hints else "")
            )
        unused = [k for k in keys if k not in names]
        pairs = [(f"{argument}[{n!r}]", inputs[n], t) for n, t in zip(names, tensors, strict=True)]
    elif isinstance(inputs, (list, tuple)):
        if len(inputs) != len(tensors):
            raise ProbeError(
                f"{argument} is a {type(inputs).__name__} of {len(inputs)} array(s), but the model has "
                f"{len(tensors)} input(s): {listed}. Pass one array per input, in this order, or a dict "
                "keyed by these names."
            )
        pairs = [(f"{argument}[{i}]", x, t) for i, (x, t) in enumerate(zip(inputs, tensors, strict=True))]
        if len(tensors) == 1:
            inputs = inputs[0]  # what Keras would do, without its structure warning
    else:
        if len(tensors) != 1:
            raise ProbeError(
                f"{argument} is a single array of shape {_shape_of(inputs)}, but the model has "
                f"{len(tensors)} inputs: {listed}. Pass a list of arrays in this order, or a dict keyed by "
                "these names."
            )
        pairs = [(argument, inputs, tensors[0])]
    for label, leaf, tensor in pairs:
        _check_shape(label, leaf, tensor)
    return inputs, unused


# --------------------------------------------------------------------------------------------------


def num_samples(inputs: Any) -> int:
    """Number of samples in a probe (the length of its batch axis), checked as the extractor checks it.

    Args:
        inputs: An array or tensor ``(n, ...)``, a list of them or a dict keyed by input name.

    Returns:
        ``n`` (>= 1).

    Raises:
        ProbeError: The probe is empty, has no batch axis, or its inputs have different sample counts.

    Example:
        >>> num_samples({"a": np.zeros((3, 2)), "b": np.zeros((3, 5))})
        3
    """
    return _num_samples(inputs)


def slice_samples(inputs: Any, start: int, stop: int) -> Any:
    """Samples ``start:stop`` of a probe, in the probe's own structure (array, list or dict).

    Example:
        >>> slice_samples([np.arange(4), np.arange(4) * 2], 1, 3)
        [array([1, 2]), array([2, 4])]
    """
    return _slice(inputs, start, stop)


@dataclasses.dataclass(frozen=True)
class CheckedProbe:
    """A probe checked against a model once (:func:`check_inputs`), passed on instead of the raw inputs.

    Everything that runs the probe (:class:`~tbactviz.probe.extractor.ActivationExtractor`, the logger's
    :class:`~tbactviz.snapshot.runner.DeviceProbe`) takes it as it is, so that one ``log()`` counts and
    conforms its inputs once.

    Attributes:
        inputs: The probe in the model's input structure (a one-element list of a single-input model
            unwrapped), batch first.
        n: Its number of samples (>= 1).
        unused: Dict keys the model does not take (ignored).
        given: The probe as the caller gave it (what error messages describe).
    """

    inputs: Any
    n: int
    unused: tuple[str, ...] = ()
    given: Any = None

    @functools.cached_property
    def first(self) -> Any:
        """The first sample as a batch of one, prepared as the compiled probe takes it (traces and shape
        inference run on it); made once."""
        return self.prepared(0, 1)

    def prepared(self, start: int, stop: int) -> Any:
        """Samples ``start:stop`` prepared as the compiled probe takes them (:func:`~tbactviz.model.compiled.
        prepare`): one chunk of a forward pass."""
        samples = _slice(self.inputs, start, min(stop, self.n))
        return prepare(samples)

    @contextmanager
    def errors(self, model: keras.Model, start: int = 0, stop: int = 1) -> Iterator[Any]:
        """Samples ``start:stop`` prepared (:meth:`prepared`; the first sample made once), run in
        :func:`probe_errors`: what the backend raises for inputs that do not fit ``model`` becomes a
        :class:`~tbactviz.errors.ProbeError` that describes the probe as the caller gave it.

        Example:
            >>> import keras
            >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            >>> probe = check_inputs(model, np.zeros((3, 4), "float32"))
            >>> with probe.errors(model, 1, 3) as chunk:
            ...     tuple(chunk.shape)
            (2, 4)
        """
        with probe_errors(model, self):
            yield self.first if (start, min(stop, self.n)) == (0, 1) else self.prepared(start, stop)

    def describe(self) -> str:
        """The probe as the caller gave it, for messages (:func:`describe_inputs`)."""
        return describe_inputs(self.inputs if self.given is None else self.given)


def check_inputs(model: keras.Model, inputs: Any, argument: str = "inputs") -> CheckedProbe:
    """Check a probe against ``model`` once: its samples counted (:func:`num_samples`), conformed to the
    model's inputs (:func:`conform`); a :class:`CheckedProbe` is returned as it is.

    Raises:
        ProbeError: As :func:`num_samples` and :func:`conform`.

    Example:
        >>> import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> probe = check_inputs(model, [np.zeros((3, 4), "float32")])
        >>> probe.n, probe.inputs.shape
        (3, (3, 4))
    """
    if isinstance(inputs, CheckedProbe):
        return inputs
    n = _num_samples(inputs, argument)
    conformed, unused = conform(model, inputs, argument)
    return CheckedProbe(conformed, n, tuple(unused), inputs)


def _passes_through(exc: BaseException) -> BaseException | None:
    """What :func:`probe_errors` lets through as it is: tbactviz's own errors (a reduction's, found anywhere
    in the exception's chain: tracing re-raises them as new exceptions), and out of memory."""
    own = internal_error(exc)
    if own is not None:
        return own
    if isinstance(exc, TbactvizError) or is_out_of_memory(exc):
        return exc
    return None


@contextmanager
def probe_errors(model: keras.Model, probe: Any) -> Iterator[None]:
    """Turn what the backend raises for inputs that do not fit ``model`` into a :class:`ProbeError`.

    Only a mismatch between the probe and the model gets that message. Out of memory is raised as it is
    (the callers add their hint, :func:`tbactviz.errors.out_of_memory_hint`), and so is an error of
    tbactviz's own code run inside the probe (a reduction, the packing of what leaves the device), with its
    own traceback: it is a bug to report, not a probe to fix.

    The message describes ``probe``: a :class:`CheckedProbe` as its caller gave it, or inputs as they are.
    """
    try:
        yield
    except input_errors() as exc:
        own = _passes_through(exc)
        if own is exc:
            raise
        if own is not None:
            raise own from None
        received = probe.describe() if isinstance(probe, CheckedProbe) else describe_inputs(probe)
        raise ProbeError(
            f"inputs do not fit the model {model.name!r}: received {received}"
            f"{expected(model)}. Keras said: {keras_message(exc)}"
        ) from exc
