"""The data-dependent half of a grid, written once with ``keras.ops``: it runs where the activations live.

:func:`grid_partial` takes one layer's activations (a batch, channels last) and a static
:class:`~tbactviz.grids.plan.GridPlan` and returns small arrays: the drawn samples' channel maps, chosen,
normalized, block-mean downscaled and quantized to colour levels, plus the chosen channels and the count of
non-finite values. The probe calls it inside the compiled function (``tf.function``, ``jax.jit``, torch), so
only those arrays reach the host; :func:`tbactviz.grids.tiling.tile_activations` calls it eagerly on numpy
input, so the numpy path and the device path are one implementation. :func:`tbactviz.grids.tiling.assemble`
lays the
result out (separators, upscaling, palette).

Arithmetic (``P`` = precision of the plan, float32 on the device): values in float32 (float64 inputs are
kept in float64 until scaled), sums and spans in ``P``; groups whose finite magnitudes lie outside
``[2**-32, 2**32]`` are first multiplied by an exact power of two (every mode is scale invariant). NaN and
+-Inf never enter a statistic and become the marker code. Results equal the float64 numpy reference to the
last bit in float64 precision and within one colour level in float32 (a value within rounding of a level
boundary may go either way; XLA may also fuse a multiply-add).

Use in the probe (one plan per layer, made once from its output shape; the plan is static, so a changing
``fixed`` range, passed as a tensor, causes no retrace)::

    plans = {path: plan_grid(shape, max_images=3, levels=64, max_side=side) for path, shape in shapes}
    def reduce(outputs, extra):                       # inside the compiled probe
        return {p: grid_partial(a, plans[p], extra.get(p)) for p, a in outputs.items()}
    for chunk in extractor.iter_batches(probe, reduce=reduce, extra=ranges):   # numpy on the host
        result = tiling.assemble(chunk[path], plans[path], colormap)       # TileResult
        indices, palette = result.indexed(64)                              # no pass: already 64 levels

Only the first chunk holding ``max_images`` samples needs ``grid_partial``; ``out["range"]`` (``fixed``
without a range) is the range to keep for the next steps.

Example:
    >>> import numpy as np
    >>> from tbactviz.grids.plan import plan_grid
    >>> plan = plan_grid((2, 2, 1), normalize="minmax", min_side=0)
    >>> out = grid_partial(np.array([[[[1.0], [2.0]], [[3.0], [5.0]]]], "float32"), plan)
    >>> np.asarray(out["codes"]).tolist(), np.asarray(out["channels"]).tolist(), int(out["nonfinite"])
    ([[[[0], [64]], [[128], [255]]]], [0], 0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tbactviz.grids.plan import ALL_LEVELS, GridPlan

__all__ = ["grid_partial", "host_precision", "partial_to_numpy"]

_F32_MAX = float(np.finfo(np.float32).max)
_SAFE_LOW, _SAFE_HIGH = 2.0**-32, 2.0**32


def host_precision() -> str:
    """``"float64"`` when the active Keras backend computes in float64 (TF, torch, numpy, JAX with x64)."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return "float64" if getattr(jax.config, "jax_enable_x64", False) else "float32"
    return "float64"


def partial_to_numpy(partial: dict[str, Any]) -> dict[str, np.ndarray]:
    """The tensors of :func:`grid_partial` as numpy arrays (one device-to-host copy each)."""
    from keras import ops

    return {key: np.asarray(ops.convert_to_numpy(value)) for key, value in partial.items()}


def grid_partial(acts: Any, plan: GridPlan, value_range: Any = None) -> dict[str, Any]:
    """Drawn maps of one layer, reduced where the activations are (``keras.ops``; compiles on every backend).

    Args:
        acts: Tensor or array ``(N, *plan.sample_shape)``, any real dtype; only the first
            ``k = min(N, plan.max_images)`` samples are read.
        plan: The layer's :class:`~tbactviz.grids.plan.GridPlan` (static: a new plan means a new trace).
        value_range: With ``normalize="fixed"``: a ``(2,)`` tensor ``(lo, hi)``, finite ``lo < hi`` (a tensor,
            so a new range is no retrace), or None to measure it from the drawn samples (then returned as
            ``range``). Must be None for the other modes.

    Returns:
        A dict of tensors:

        * ``codes``: ``(k, th, tw, tiles)`` (channels last, as computed: the host lays the tiles out) with
          ``tiles = plan.tiles`` and ``(th, tw)`` one tile after downscaling (before upscaling): uint8
          palette indices ``0..levels-1`` (marker ``levels``,
          separator ``levels + 1`` for empty Dense cells) when ``plan.levels <= 254``, else int32 codes
          ``0..255`` (marker 256, separator 257).
        * ``channels``: int32 ``(n,)``, the channel each tile (heatmap column) shows, in drawing order;
          Dense: ``arange(units)``.
        * ``nonfinite``: int32 scalar, NaN/+-Inf among all channels of the ``k`` samples (0 if
          ``plan.finite``).
        * ``range`` (``fixed`` without ``value_range`` only): ``(2,)`` finite min and max of the ``k``
          samples (all channels), ``(0, 1)`` when none is finite, ``(c, c + 1)`` when constant.

    Raises:
        ValueError: ``value_range`` is given for another mode than ``fixed``.

    Example:
        >>> from tbactviz.grids.plan import plan_grid
        >>> p = plan_grid((4, 4, 8), max_channels=2, order="activity", min_side=0, levels=16)
        >>> x = np.zeros((1, 4, 4, 8), "float32"); x[..., 5] = 3.0; x[0, 0, 0, 5] = 0.0
        >>> out = grid_partial(x, p)
        >>> np.asarray(out["channels"]).tolist(), np.asarray(out["codes"]).dtype.name
        ([5, 0], 'uint8')
    """
    from keras import ops

    if value_range is not None and plan.normalize != "fixed":
        raise ValueError(
            f"value_range is only used with normalize='fixed' (plan.normalize={plan.normalize!r})"
        )
    acc = plan.precision
    x = ops.convert_to_tensor(acts)
    dtype = keras_dtype(x)
    if dtype not in ("float32", "float64") or (dtype == "float64" and acc == "float32"):
        x = ops.cast(x, "float32")
    x = x[: plan.max_images]
    k = x.shape[0]
    out: dict[str, Any] = {}
    finite_x = None if plan.finite else ops.isfinite(x)
    nonfinite = (
        ops.convert_to_tensor(0, "int32")
        if finite_x is None
        else ops.sum(ops.cast(ops.logical_not(finite_x), "int32"))
    )
    if k == 0:  # static: nothing to draw (a jit trace always has a known batch)
        if plan.normalize == "fixed" and value_range is None:
            out["range"] = ops.convert_to_tensor(np.array([0.0, 1.0]), acc)
        th, tw = -(-plan.h // plan.down), -(-plan.w // plan.down)
        codes = ops.zeros((0, th, tw, plan.tiles), "uint8" if plan.levels < ALL_LEVELS else "int32")
        return {**out, "codes": codes, "channels": _arange(plan.n), "nonfinite": nonfinite}
    if plan.normalize == "fixed" and value_range is None:
        value_range = out["range"] = _measured_range(x, finite_x, acc)
    x, channels = _select(x, finite_x, plan, acc)
    v = _groups(x, plan)
    levels = _normalize(v, plan, value_range, acc)
    tiles, valid = _tiles(levels, plan)
    codes = _quantize(tiles, plan, valid)
    return {**out, "codes": codes, "channels": channels, "nonfinite": nonfinite}


def keras_dtype(x: Any) -> str:
    """The Keras name of a tensor's dtype (``"float32"``, ``"int64"``, ``"bool"``, ...)."""
    import keras

    return str(keras.backend.standardize_dtype(x.dtype))


def _arange(n: int) -> Any:
    from keras import ops

    return ops.arange(n, dtype="int32")


def _measured_range(x: Any, finite_x: Any, acc: str) -> Any:
    """Finite ``(lo, hi)`` of ``x`` with :func:`tbactviz.grids.tiling.value_range`'s rules, in ``acc``."""
    from keras import ops

    x = ops.cast(x, acc)
    if finite_x is None:
        lo, hi = ops.min(x), ops.max(x)
    else:
        lo = ops.min(ops.where(finite_x, x, np.inf))
        hi = ops.max(ops.where(finite_x, x, -np.inf))
    none = lo > hi
    lo, hi = ops.where(none, 0.0, lo), ops.where(none, 1.0, hi)
    wider = lo + ops.maximum(1.0, ops.abs(lo) * 2.0**-20)  # c + 1, or a little more where c + 1 == c
    hi = ops.where(hi > lo, hi, wider)
    return ops.stack([lo, hi])


def _select(x: Any, finite_x: Any, plan: GridPlan, acc: str) -> tuple[Any, Any]:
    """The drawn channels of ``x`` (last axis) and their indices (int32, drawing order)."""
    from keras import ops

    c = plan.channels
    if plan.kind == "dense":
        return x, _arange(plan.n)
    if plan.order == "index":
        return (x if plan.n == c else x[..., : plan.n]), _arange(plan.n)
    # activity: mean |a| per channel over the drawn samples and positions, descending, ties by index
    axes = tuple(range(len(x.shape) - 1))
    magnitude = ops.abs(x) if finite_x is None else ops.where(finite_x, ops.abs(x), 0.0)
    if finite_x is None:
        score = ops.mean(ops.cast(magnitude, acc), axis=axes)
    else:
        count = ops.sum(ops.cast(finite_x, acc), axis=axes)
        score = ops.sum(ops.cast(magnitude, acc), axis=axes) / ops.maximum(count, 1.0)
    # rank of each channel: stronger channels before it, then equal ones with a lower index (a permutation)
    above = ops.greater(score[None, :], score[:, None])
    index = ops.arange(c)
    tie = ops.logical_and(ops.equal(score[None, :], score[:, None]), index[None, :] < index[:, None])
    rank = ops.sum(ops.cast(ops.logical_or(above, tie), "int32"), axis=1)
    channels = ops.cast(ops.argsort(rank)[: plan.n], "int32")
    return ops.take(x, channels, axis=-1), channels


def _groups(x: Any, plan: GridPlan) -> Any:
    """Drawn channels channels-last, positions in the middle: grid ``(k, H, W, n)`` (leading spatial axes
    max-projected), heatmap ``(k, T, n)``, dense ``(k, units, 1)`` (one group: the whole vector)."""
    from keras import ops

    if plan.kind == "dense":
        return ops.reshape(x, (-1, plan.n, 1))
    if plan.kind == "grid" and len(x.shape) > 4:  # max projection, NaN ignored unless all of a column is
        axes = tuple(range(1, len(x.shape) - 3))
        if plan.finite:
            return ops.max(x, axis=axes)
        nan = ops.isnan(x)
        top = ops.max(ops.where(nan, -np.inf, x), axis=axes)
        return ops.where(ops.all(nan, axis=axes), np.nan, top)
    return x


def _normalize(v: Any, plan: GridPlan, value_range: Any, acc: str) -> Any:
    """Levels in [0, 255], float32, shaped like ``v``; NaN where ``v`` is not finite.

    Per-group modes reduce over the middle (position) axes of ``v``, shared ones over everything.
    """
    from keras import ops

    mode = plan.normalize
    axis: Any = tuple(range(1, len(v.shape) - 1)) if mode in ("standardize", "minmax") else None
    mask = None if plan.finite else ops.isfinite(v)
    if mask is None:
        lo, hi = ops.min(v, axis=axis, keepdims=True), ops.max(v, axis=axis, keepdims=True)
    else:
        lo = ops.min(ops.where(mask, v, np.inf), axis=axis, keepdims=True)
        hi = ops.max(ops.where(mask, v, -np.inf), axis=axis, keepdims=True)
        empty = lo > hi
        lo, hi = ops.where(empty, 0.0, lo), ops.where(empty, 0.0, hi)
    lo, hi = ops.cast(lo, acc), ops.cast(hi, acc)
    if mode == "fixed":
        fixed = ops.cast(ops.convert_to_tensor(value_range), acc)
        mag = ops.maximum(ops.maximum(ops.abs(lo), ops.abs(hi)), ops.max(ops.abs(fixed)))
        lo, hi = fixed[0], fixed[1]
    else:
        mag = ops.maximum(ops.abs(lo), ops.abs(hi))
    # an exact power of two brings extreme magnitudes near 1 (a normal number in the value dtype)
    extreme = ops.logical_and(mag != 0, ops.logical_or(mag < _SAFE_LOW, mag > _SAFE_HIGH))
    exponent = ops.where(extreme, ops.floor(ops.log2(ops.where(mag > 0, mag, 1.0))), 0.0)
    limit = 1000.0 if acc == "float64" else 126.0
    scale = ops.power(2.0, ops.clip(-exponent, -limit, limit))
    v = ops.cast(ops.cast(v, acc) * scale, "float32")
    lo, hi = lo * scale, hi * scale
    if mode == "standardize":
        zero = None if mask is None else ops.zeros_like(v)
        if mask is None:
            count = ops.convert_to_tensor(float(np.prod([v.shape[a] for a in axis])), acc)
        else:
            count = ops.maximum(ops.sum(ops.cast(mask, acc), axis=axis, keepdims=True), 1.0)
        total = ops.sum(ops.cast(v if mask is None else ops.where(mask, v, zero), acc), axis, keepdims=True)
        centred = v - ops.cast(total / count, "float32")
        squares = centred * centred if mask is None else ops.where(mask, centred * centred, zero)
        std = ops.sqrt(ops.sum(ops.cast(squares, acc), axis=axis, keepdims=True) / count)
        gain = ops.where(std > 0, 64.0 / ops.where(std > 0, std, 1.0), 0.0)
        levels = centred * ops.cast(ops.minimum(gain, _F32_MAX), "float32") + 128.0
    else:
        span = hi - lo
        gain = ops.where(span > 0, 255.0 / ops.where(span > 0, span, 1.0), 0.0)
        levels = (v - ops.cast(lo, "float32")) * ops.cast(ops.minimum(gain, _F32_MAX), "float32")
    levels = ops.clip(levels, 0.0, 255.0)
    return levels if mask is None else ops.where(mask, levels, np.nan)


def _tiles(levels: Any, plan: GridPlan) -> tuple[Any, np.ndarray | None]:
    """Levels as channels-last tiles ``(k, h, w, tiles)``, block-mean downscaled; existing cells or None."""
    from keras import ops

    valid = None
    if plan.kind == "dense":
        cells = plan.h * plan.w
        if cells != plan.n:
            levels = ops.pad(levels, ((0, 0), (0, cells - plan.n), (0, 0)))
            valid = (np.arange(cells) < plan.n).reshape(plan.h, plan.w)
        tiles = ops.reshape(levels, (-1, plan.h, plan.w, 1))
    elif plan.kind == "heatmap":
        tiles = levels[..., None]  # (k, T, n, 1)
    else:
        tiles = levels  # (k, H, W, n)
    f = plan.down
    if f == 1:
        return tiles, valid
    h, w = plan.h, plan.w
    hb, wb = -(-h // f), -(-w // f)
    if hb * f != h or wb * f != w:
        tiles = ops.pad(tiles, ((0, 0), (0, hb * f - h), (0, wb * f - w), (0, 0)))
    # block means by the backend's pooling kernel (NaN propagates), corrected where a block has fewer cells
    tiles = ops.average_pool(tiles, f, strides=f, padding="valid", data_format="channels_last")
    ones = np.zeros((hb * f, wb * f), np.float32)
    ones[:h, :w] = 1.0 if valid is None else valid
    counts = ones.reshape(hb, f, wb, f).sum(axis=(1, 3))
    if not (counts == f * f).all():
        scale = np.where(counts > 0, f * f / np.maximum(counts, 1.0), 0.0).astype(np.float32)
        tiles = tiles * ops.convert_to_tensor(scale[:, :, None])
    return tiles, (None if valid is None else counts > 0)


def _quantize(tiles: Any, plan: GridPlan, valid: np.ndarray | None) -> Any:
    """Float levels (NaN = marker) -> codes ``(k, h, w, tiles)``: uint8 palette indices, or int32 codes."""
    from keras import ops

    nan = None if plan.finite else ops.isnan(tiles)
    if nan is not None:
        tiles = ops.where(nan, 0.0, tiles)
    # levels lie in [0, 255] (clipped before the block means, which stay inside): no clip here
    code = ops.round(tiles)
    levels = plan.levels
    if levels < ALL_LEVELS:  # nearest of `levels` evenly spaced colormap entries, as tiling's palette
        # (i * (levels - 1) + 127) // 255 of the level i, in float32: the numerator is an exact integer and
        # the division is correctly rounded, so the floor is exact (vectorized, unlike an integer division)
        code = ops.floor((code * float(levels - 1) + 127.0) / 255.0)
    code = ops.cast(code, "uint8" if levels < ALL_LEVELS else "int32")
    if nan is not None:
        code = ops.where(nan, ops.cast(levels, code.dtype), code)
    if valid is not None and not valid.all():
        code = ops.where(ops.convert_to_tensor(valid[:, :, None]), code, ops.cast(levels + 1, code.dtype))
    return code
