"""Tag and run names: the one place they are built.

Every event tbactviz writes is named here, deterministically, from the layer path:

===================  ============================  =========================
what                 tag                           TensorBoard dashboard
===================  ============================  =========================
feature-map grids    ``activations/<path>``        Images
histogram            ``histograms/<path>``         Histograms / Distributions
each stat ``s``      ``<s>/<path>``                Scalars
===================  ============================  =========================

and, read only by tbactviz's own Activations tab, tensor summaries under the plugin name
:data:`PLUGIN_NAME` (``"tbactviz"``), each under a prefix of its own:

===================  ============================  =========================
grid layout          ``layout/<path>``             Activations (tbactviz)
per-channel figures  ``channels/<path>``           Activations (tbactviz)
===================  ============================  =========================

with ``s`` one of :data:`tbactviz.stats.arrays.STAT_NAMES` (``sparsity``, ``dead_channels``, ``mean``,
``std``, ``max_abs``, ``nonfinite``, ``dormant_fraction``). One tag never carries two plugins, and TensorBoard
groups the cards by the prefix before the first ``/``, so each kind of figure gets its own section.

Layer paths of nested models keep their ``/`` (``backbone/conv1_conv``); characters TensorBoard or file
systems dislike are replaced by ``_`` (see :func:`sanitize`).

This module imports nothing but the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "CHANNELS_PREFIX",
    "HISTOGRAM_PREFIX",
    "IMAGE_PREFIX",
    "LAYOUT_PREFIX",
    "PLUGIN_NAME",
    "RESERVED_PREFIXES",
    "channels_tag",
    "histogram_tag",
    "image_tag",
    "layout_tag",
    "sanitize",
    "scalar_tag",
    "tags_for_layer",
    "unique_paths",
]

IMAGE_PREFIX = "activations"
HISTOGRAM_PREFIX = "histograms"
#: Prefix of the grid-layout tensor summaries (which channel each tile shows, tile geometry).
LAYOUT_PREFIX = "layout"
#: Prefix of the per-channel figure tensor summaries (mean, std, zero fraction, max |a| per channel).
CHANNELS_PREFIX = "channels"
#: Plugin name of the summaries only tbactviz's own TensorBoard tab reads.
PLUGIN_NAME = "tbactviz"
#: Prefixes a scalar stat name may not take: each belongs to one kind of summary.
RESERVED_PREFIXES = (IMAGE_PREFIX, HISTOGRAM_PREFIX, LAYOUT_PREFIX, CHANNELS_PREFIX)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/]")
_SLASHES = re.compile(r"/{2,}")


def sanitize(path: str) -> str:
    """Make a layer path safe to use in a tag.

    Keeps letters, digits, ``_``, ``-``, ``.`` and ``/`` (the nesting separator); every other character
    (``:``, spaces, brackets, non-ASCII, ...) becomes ``_``. Repeated slashes collapse to one and leading or
    trailing slashes are dropped. The result is never empty.

    Args:
        path: A layer path such as ``"backbone/conv1_conv"`` or ``"dense:0"``.

    Returns:
        The sanitized path; the same input always gives the same output.

    Example:
        >>> sanitize("mobilenetv2_1.00_224/block 1:conv")
        'mobilenetv2_1.00_224/block_1_conv'
    """
    out = _SLASHES.sub("/", _UNSAFE.sub("_", path)).strip("/")
    return out or "_"


def unique_paths(paths: Iterable[str]) -> list[str]:
    """Sanitize paths and make them distinct, keeping their order.

    Two different layer paths can sanitize to the same string (``a:b`` and ``a_b``); the second and later
    ones get ``_2``, ``_3``, ... appended so that no two layers ever share a tag.

    Args:
        paths: Layer paths, in the order they are logged.

    Returns:
        One tag-safe path per input path, all distinct.

    Example:
        >>> unique_paths(["a:b", "a_b", "c"])
        ['a_b', 'a_b_2', 'c']
    """
    seen: set[str] = set()
    out: list[str] = []
    for path in paths:
        base = sanitize(path)
        name, k = base, 1
        while name in seen:
            k += 1
            name = f"{base}_{k}"
        seen.add(name)
        out.append(name)
    return out


def image_tag(path: str) -> str:
    """Tag of a layer's feature-map grids: ``activations/<path>``."""
    return f"{IMAGE_PREFIX}/{sanitize(path)}"


def histogram_tag(path: str) -> str:
    """Tag of a layer's activation histogram: ``histograms/<path>``."""
    return f"{HISTOGRAM_PREFIX}/{sanitize(path)}"


def layout_tag(path: str) -> str:
    """Tag of a layer's grid layout (a ``tbactviz`` tensor summary): ``layout/<path>``."""
    return f"{LAYOUT_PREFIX}/{sanitize(path)}"


def channels_tag(path: str) -> str:
    """Tag of a layer's per-channel figures (a ``tbactviz`` tensor summary): ``channels/<path>``."""
    return f"{CHANNELS_PREFIX}/{sanitize(path)}"


def scalar_tag(stat: str, path: str) -> str:
    """Tag of one scalar figure of a layer: ``<stat>/<path>`` (e.g. ``sparsity/conv1``).

    Args:
        stat: A stat name, e.g. ``"sparsity"`` or ``"dead_channels"``; must be a plain identifier.
        path: The layer path.

    Raises:
        ValueError: ``stat`` is empty, contains ``/`` or is one of :data:`RESERVED_PREFIXES`.
    """
    if not stat or "/" in stat or stat in RESERVED_PREFIXES or sanitize(stat) != stat:
        raise ValueError(
            f"stat={stat!r} is not a valid scalar name: use a plain identifier other than "
            f"{', '.join(repr(p) for p in RESERVED_PREFIXES)}"
        )
    return f"{stat}/{sanitize(path)}"


def tags_for_layer(
    path: str,
    *,
    images: bool = True,
    histograms: bool = True,
    stats: Iterable[str] = (),
    own: bool = False,
) -> list[str]:
    """All tags one log event writes for a layer, in writing order.

    Args:
        path: The layer path.
        images: Whether the grid image is written (with ``own``, its ``layout/`` summary too).
        histograms: Whether the histogram is written.
        stats: The stat names written as scalars (empty for none; with ``own``, the per-channel figures
            ``channels/`` are written when it is not empty).
        own: Also list tbactviz's own tensor summaries (``layout/``, ``channels/``), which only the
            Activations tab reads; by default only the tags of TensorBoard's stock dashboards.

    Returns:
        The list of tags.

    Example:
        >>> tags_for_layer("conv1", stats=["sparsity"])
        ['activations/conv1', 'histograms/conv1', 'sparsity/conv1']
        >>> tags_for_layer("conv1", histograms=False, stats=["sparsity"], own=True)
        ['activations/conv1', 'layout/conv1', 'channels/conv1', 'sparsity/conv1']
    """
    stats = list(stats)
    tags = []
    if images:
        tags.append(image_tag(path))
        if own:
            tags.append(layout_tag(path))
    if histograms:
        tags.append(histogram_tag(path))
    if own and stats:
        tags.append(channels_tag(path))
    tags.extend(scalar_tag(s, path) for s in stats)
    return tags
