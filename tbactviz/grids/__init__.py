"""Feature-map grids: planned before the probe runs, reduced on the device, assembled and encoded on the host.

* :mod:`~tbactviz.grids.plan`: the static plan of a grid (channels drawn, rows and columns, scale factors,
  output size); numpy only.
* :mod:`~tbactviz.grids.budget`: grid sizes chosen from a byte budget per logged step.
* :mod:`~tbactviz.grids.quantize`: the data-dependent half, written once with ``keras.ops``: channel choice
  and order, normalization, block-mean downscaling, quantization to colour levels; runs on the device.
* :mod:`~tbactviz.grids.values`: numpy input of the drawing functions: checks, value ranges, colormap lookup.
* :mod:`~tbactviz.grids.tiling`: the host half (tiles, separators, upscaling, palette) and the public
  :func:`~tbactviz.grids.tiling.tile_activations`.
* :mod:`~tbactviz.grids.colormaps`, :mod:`~tbactviz.grids.png`: colormap tables and palette PNG encoding.
"""
