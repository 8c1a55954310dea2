"""What the ``tbactviz`` command builds on: probe files, the demo, and starting TensorBoard.

* :mod:`~tbactviz.tools.data`: probe images and arrays read from files; the built-in shapes data set.
* :mod:`~tbactviz.tools.demo`: the demo run (a small CNN trained with the callback).
* :mod:`~tbactviz.tools.board`: TensorBoard started with flags that keep every logged step.
"""
