"""The default selection (``layers=None``): an overview of a model's whole depth in a few layers.

:func:`default_layers` picks up to :data:`DEFAULT_MAX_LAYERS` layers, evenly spaced from the first to the
last, among those whose output is a spatial map (convolutions, activations, pooling, merges preferred);
:func:`tbactviz.layers.selection.resolve_layers` calls it for ``layers=None``. It reads the layers as
:func:`tbactviz.layers.listing.list_layers` describes them (``layer``, ``drawable``, ``rank``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import keras

from tbactviz.checks import check_int

__all__ = ["DEFAULT_MAX_LAYERS", "check_max_layers", "default_layers", "mro_names"]

#: Number of layers the default selection (``layers=None``) picks at most.
DEFAULT_MAX_LAYERS = 8

# Class names (anywhere in the MRO) the default overview skips: identity-like, shape-only or noise layers.
_DEFAULT_SKIP = frozenset(
    {
        "InputLayer",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianDropout",
        "GaussianNoise",
        "AlphaDropout",
        "ActivityRegularization",
        "Reshape",
        "Flatten",
        "Permute",
        "RepeatVector",
        "Identity",
        "Masking",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "Rescaling",
        "Normalization",
        "Resizing",
        "CenterCrop",
    }
)
# Class names (anywhere in the MRO) the default overview prefers: what a CNN "sees".
_DEFAULT_PREFER = frozenset(
    {
        "BaseConv",
        "BaseConvTranspose",
        "BaseDepthwiseConv",
        "BaseSeparableConv",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "BasePooling",
        "BaseGlobalPooling",
        "Merge",
    }
)
_DENSE_LIKE = frozenset({"Dense", "EinsumDense"})


class Candidate(Protocol):
    """What the overview reads of a layer (:class:`tbactviz.layers.listing.LayerInfo` is one)."""

    @property
    def layer(self) -> Any: ...

    @property
    def drawable(self) -> bool: ...

    @property
    def rank(self) -> int | None: ...


C = TypeVar("C", bound=Candidate)


def mro_names(layer: object) -> set[str]:
    """Names of the classes of ``layer`` and of all their bases.

    Example:
        >>> "Layer" in mro_names(keras.layers.Dense(2))
        True
    """
    return {cls.__name__ for cls in type(layer).__mro__}


def check_max_layers(max_layers: object) -> None:
    """Validate a ``max_layers`` budget (an int >= 1)."""
    check_int("max_layers", max_layers, minimum=1)


def _evenly_spaced(items: Sequence[C], k: int) -> list[C]:
    n = len(items)
    if n <= k:
        return list(items)
    if k == 1:
        return [items[-1]]
    picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})
    return [items[i] for i in picks]


def default_layers(infos: Sequence[C], max_layers: int = DEFAULT_MAX_LAYERS) -> list[C]:
    """The default overview: up to ``max_layers`` layers spread evenly over the model's depth.

    Candidates are drawable layers with a spatial output (rank >= 3, batch included) that are not containers
    (nested models), inputs, dropout/noise or shape-only layers (Reshape, Flatten, padding, cropping, ...).
    Among them, convolutions, activations, pooling and merge layers (block outputs such as ResNet's ``Add``)
    are preferred when there are at least ``max_layers`` of them. The picks are evenly spaced in model order
    and always include the first and the last candidate. Layers whose shape is unknown count as spatial when
    they are preferred layers. When no layer has a spatial output, the Dense-type layers are used instead,
    then any drawable non-container layer.

    Args:
        infos: What :func:`tbactviz.layers.listing.list_layers` returned.
        max_layers: The budget (>= 1).

    Returns:
        The chosen layers in model order; empty when nothing is drawable.
    """
    check_max_layers(max_layers)
    usable = [
        info
        for info in infos
        if info.drawable
        and not isinstance(info.layer, keras.Model)
        and not (mro_names(info.layer) & _DEFAULT_SKIP)
    ]
    preferred_names = [bool(mro_names(info.layer) & _DEFAULT_PREFER) for info in usable]
    spatial = [
        info
        for info, pref in zip(usable, preferred_names, strict=True)
        if (info.rank is not None and info.rank >= 3) or (info.rank is None and pref)
    ]
    if spatial:
        preferred = [info for info in spatial if mro_names(info.layer) & _DEFAULT_PREFER]
        pool = preferred if len(preferred) >= max_layers else spatial
        return _evenly_spaced(pool, max_layers)
    dense = [info for info in usable if mro_names(info.layer) & _DENSE_LIKE]
    return _evenly_spaced(dense or usable, max_layers)
