"""The Activations tab: a TensorBoard dynamic plugin shipped inside tbactviz.

TensorBoard finds it through the ``tensorboard_plugins`` entry point (:class:`loader.ActivationsLoader`), so
plain ``tensorboard --logdir logs`` and ``tbactviz board`` both show it whenever a run holds tbactviz's
``layout/<path>`` summaries. ``import tbactviz`` never imports this package.

Modules: :mod:`.loader` (version check, one warning when it cannot serve), :mod:`.routes` (the HTTP routes),
:mod:`.reading` (what the routes return, read through the data provider), :mod:`.rebin` (one value axis for
a layer's histograms over steps), ``static/`` (the ES modules and CSS of the tab, served as they are: no
build step, no external script).
"""
