"""The health figures and histograms of a layer: on the device, on the host, and on numpy arrays.

* :mod:`~tbactviz.stats.reductions`: what leaves the device, written once with ``keras.ops``: per-channel
  partial sums, histogram counts, extremes.
* :mod:`~tbactviz.stats.fold`: the host side: the partials of several chunks merged, then finished into the
  written figures; the figures' definitions.
* :mod:`~tbactviz.stats.arrays`: the public numpy functions :func:`layer_stats`, :func:`histogram_buckets`,
  :func:`dormant_fraction`.

``from tbactviz.stats import layer_stats`` keeps working: this package re-exports
:mod:`~tbactviz.stats.arrays`.
"""

from __future__ import annotations

from tbactviz.stats.arrays import (
    DEFAULT_BUCKET_COUNT,
    DEFAULT_DORMANT_TAU,
    STAT_NAMES,
    dormant_fraction,
    finite_mask_or_none,
    histogram_buckets,
    layer_stats,
)

__all__ = [
    "DEFAULT_BUCKET_COUNT",
    "DEFAULT_DORMANT_TAU",
    "STAT_NAMES",
    "dormant_fraction",
    "finite_mask_or_none",
    "histogram_buckets",
    "layer_stats",
]
