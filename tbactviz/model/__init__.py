"""Running the user's model on any Keras 3 backend, before tbactviz looks at anything.

The first stage of a snapshot. Nothing here knows about grids, figures or events.

* :mod:`~tbactviz.model.capture`: the chosen layers' outputs captured during the model's own forward pass
  (temporary per-layer ``call`` wrappers; nested, subclassed and Sequential models alike).
* :mod:`~tbactviz.model.compiled`: that forward pass compiled by the backend's own means (``tf.function``,
  ``jax.jit`` with the weights as arguments, PyTorch eager), and one compiled reduction per layer shape.
* :mod:`~tbactviz.model.packing`: what the probe returns packed into one buffer per dtype on the device,
  copied off it once per dtype, split into views on the host.
* :mod:`~tbactviz.model.shapes`: layers' output shapes found without computing (a symbolic trace).
"""
