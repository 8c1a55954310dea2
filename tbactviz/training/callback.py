"""ActivationCallback: watch what the chosen layers see evolve during ``model.fit``.

The callback decides *when* (:class:`tbactviz.training.schedule.Schedule`); :class:`tbactviz.ActivationLogger`
does
*what*. Nothing else in tbactviz knows about Keras' training loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

import keras

from tbactviz.errors import LogdirError, NoDrawableLayerError, ProbeError, WarnOnce, out_of_memory_hint
from tbactviz.events.writer import check_logdir
from tbactviz.layers.selection import check_selection
from tbactviz.options import CALLBACK_OPTIONS, DEPRECATED_OPTIONS, LOGGER_OPTIONS, check_options
from tbactviz.probe.datasets import check_probe, is_dataset, take_samples
from tbactviz.probe.inputs import CheckedProbe
from tbactviz.snapshot.logger import ActivationLogger
from tbactviz.training import chief
from tbactviz.training.background import BackgroundWriter
from tbactviz.training.schedule import Schedule, StepUnit

__all__ = ["ActivationCallback"]

_log = logging.getLogger(__name__)

# The logger options the callback passes on: all of tbactviz.options' table but on_error, its own.
_LOGGER_OPTIONS = tuple(option.name for option in LOGGER_OPTIONS if option.name != "on_error")
_OWN_OPTIONS = {option.name: option for option in CALLBACK_OPTIONS}


class ActivationCallback(keras.callbacks.Callback):
    """Logs what the chosen layers of the model "see" to TensorBoard while ``fit`` trains it.

    At every scheduled step the same fixed probe inputs are run through the model being trained, and
    :class:`tbactviz.ActivationLogger` writes, for each chosen layer ``L``, the grids ``activations/L``, the
    histogram ``histograms/L`` and the health scalars (``sparsity/L``, ...) into an event file of the
    callback's own in ``logdir``: the callback decides *when*, the logger *what*. Point Keras' TensorBoard
    callback at the parent directory: its events stay in its ``train``/``validation`` runs, ours in
    ``logdir`` (the default summary writer Keras pushes during ``fit`` is never used).

    Schedule and steps (:class:`tbactviz.training.schedule.Schedule`): by default step 0 (the untrained
    network) and one step after every epoch (step = epochs completed). With ``every_n_batches`` the step is
    the global
    batch counter (the model's optimizer steps), also for epoch triggers. With ``steps_per_execution=k`` the
    counter advances by ``k`` and a batch trigger fires at the first count at or past each multiple of
    ``every_n_batches``. Only batch schedules override the batch hook (on the TensorFlow backend Keras calls
    batch hooks synchronously anyway; on backends that dispatch them asynchronously, epoch schedules keep it).

    Steps only ever grow, and resuming never writes a step twice: each epoch starts from what the model knows
    -- the epoch Keras starts at (``initial_epoch``, or the one ``keras.callbacks.BackupAndRestore``
    restores) and ``model.optimizer.iterations`` -- so a callback reused across ``fit`` calls, or a new one in
    a new process resuming a run, continues where the run stopped. Step 0 is logged only when training starts
    from scratch (epoch 0, no optimizer step).

    Each ``fit`` opens its own event file in ``logdir`` on its first event and closes it in ``on_train_end``
    (one writer at a time per run, like Keras' TensorBoard callback); every event is flushed as soon as it is
    written, so an exception or KeyboardInterrupt that ends ``fit`` early leaves everything logged so far
    readable.

    Errors: a failure while logging never interrupts training by default: a layer that cannot be drawn is
    skipped with one :class:`tbactviz.TbactvizWarning` per layer and cause, the other layers are written; a
    failed step is warned once per cause. ``on_error="raise"`` raises instead (after closing the event file).
    Setup errors that would recur at every step (a selector that matches nothing, a probe that does not fit
    the model, a probe ``Dataset`` without samples) are raised at the start of ``fit``, before any training
    step, whatever ``on_error`` says. A log directory gone bad since construction is warned about and nothing
    is logged during that ``fit``; a full disk is warned about once and logging resumes when space is free.

    Memory: the probe runs in chunks (``batch_size``; by default at most about 256 MiB of activations), each
    folded into the grids, histograms and statistics and released before the next. With ``async_write=True``
    the training thread only runs the forward passes and hands each chunk to a writer thread through a queue
    bounded in bytes (512 MiB, one chunk always fits; :mod:`tbactviz.training.background`) and in steps
    (``max_queue``); when it is full, training waits (no step is ever dropped). ``on_train_end`` and
    :meth:`close` drain it before closing the event file, and so does interpreter exit.

    Distribution: under ``MirroredStrategy`` the probe runs on the mirrored model as is. With several
    processes only the chief writes (:func:`tbactviz.training.chief.is_chief`): under
    ``MultiWorkerMirroredStrategy`` the worker that ``strategy.extended.should_save_summary``, under
    multi-process JAX (and
    ``keras.distribution``) process 0, under ``torch.distributed`` rank 0; the others log nothing.

    Args:
        logdir: str or path. Run directory of the events, e.g. ``"logs/activations"``; created on the first
            event. Use a directory of its own, not the ``train``/``validation`` runs of Keras' TensorBoard.
        probe: The fixed probe inputs, the same at every step so that pictures compare: an array (N, ...)
            with N >= 1, a list or dict of arrays for multi-input models, or a ``tf.data.Dataset`` as ``fit``
            takes it, read once at the start of the first ``fit``
            (:func:`tbactviz.probe.datasets.take_samples`).
        layers: Which layers, as :class:`tbactviz.ActivationLogger` takes them: an exact name, a nested path
            ``"outer/inner"``, a glob (``"conv*"``), a layer class or a list of these; None picks an overview
            of up to 8 spatial layers over the model's depth.
        every_n_epochs: int. Log after every N-th epoch. 0 turns epoch logging off.
        every_n_batches: int. Log after every N-th batch (global counter; makes the step unit "batch"). 0
            (default) turns batch logging off.
        steps: Iterable of ints or None. Explicit steps to log at, in the step unit (epochs completed, or
            batches completed with a batch schedule or ``step_unit="batch"``). None (default) turns it off.
        log_at_start: bool. Log step 0 (the untrained network) when training starts from scratch. False
            turns it off.
        step_unit: ``"epoch"``, ``"batch"`` or None (default: ``"batch"`` when ``every_n_batches > 0``, else
            ``"epoch"``). Needed only to give ``steps`` in batches without a batch interval.
        async_write: bool. Fold, tile, encode and write on a writer thread. False (default): all on the
            training thread.
        max_queue: int >= 1. With ``async_write``: logged steps that may be queued or being written before
            the training thread waits for the writer thread.
        probe_samples: int >= 1. With a ``Dataset`` probe: how many samples to take from it. Fewer available
            gives a warning and the probe uses what there is.
        on_error: ``"warn"`` (default): a logging error is one warning per layer and cause and training
            goes on; ``"raise"``: logging errors end ``fit`` (after the event file is closed).
        **logger_options: Any other option of :class:`tbactviz.ActivationLogger` (``max_images``,
            ``normalize``, ``batch_size``, ...: :data:`tbactviz.options.LOGGER_OPTIONS`), checked at once.

    Raises:
        ValueError: An argument is invalid (the message names it, the value received and the valid options).
        TypeError: An unknown keyword argument.
        tbactviz.ProbeError: ``probe`` holds no array, an array without samples, or arrays of different N;
            at the start of ``fit``, a probe that does not fit the model.
        tbactviz.LogdirError: ``logdir`` is a file or not writable.

    Example:
        >>> import keras, numpy as np, tempfile, tbactviz
        >>> model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv1"),
        ...                           keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
        >>> model.compile("adam", "mse")
        >>> x, y = np.random.rand(8, 16, 16, 3), np.random.rand(8, 2)
        >>> cb = tbactviz.ActivationCallback(tempfile.mkdtemp(), x[:2], layers="conv*", every_n_epochs=1)
        >>> _ = model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])
        >>> cb.logged_steps
        [0, 1, 2]
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        probe: Any,
        layers: Any = None,
        *,
        every_n_epochs: int = 1,
        every_n_batches: int = 0,
        steps: Iterable[int] | None = None,
        log_at_start: bool = True,
        step_unit: StepUnit | None = None,
        async_write: bool = False,
        max_queue: int = 4,
        probe_samples: int = 8,
        on_error: str = "warn",
        **logger_options: Any,
    ) -> None:
        super().__init__()
        self._logdir = check_logdir(logdir)
        self._schedule = Schedule(
            every_n_epochs=every_n_epochs,
            every_n_batches=every_n_batches,
            steps=steps,
            log_at_start=log_at_start,
            step_unit=step_unit,
        )
        if probe is None:
            raise ValueError(
                "probe=None is not valid; expected the probe inputs: an array (N, ...), a list/dict of "
                "arrays or a tf.data.Dataset"
            )
        unknown = sorted(set(logger_options) - set(_LOGGER_OPTIONS) - set(DEPRECATED_OPTIONS))
        if unknown:
            raise TypeError(
                f"ActivationCallback got unknown keyword argument(s) {unknown}; the options passed on "
                f"to ActivationLogger are {list(_LOGGER_OPTIONS)}"
            )
        check_selection(layers)
        self._async = bool(_OWN_OPTIONS["async_write"].check(async_write))
        self._max_queue = int(_OWN_OPTIONS["max_queue"].check(max_queue))
        self._probe_samples = int(_OWN_OPTIONS["probe_samples"].check(probe_samples))
        self._raise = _OWN_OPTIONS["on_error"].check(on_error) == "raise"
        self._layers = layers
        self._logger_options = check_options(logger_options)
        self._probe_source = probe
        self._probe: Any = None if is_dataset(probe) else check_probe(probe)
        self._checked: CheckedProbe | None = None  # the probe checked against this fit's model
        self._logger: ActivationLogger | None = None
        self._logger_model: Any = None
        self._chief = True
        self._background: BackgroundWriter | None = None
        self._worker_error: BaseException | None = None
        self._warn = WarnOnce(_log)
        self._logged: list[int] = []
        if self._schedule.needs_batches:
            # Only batch schedules override the batch hook: a callback that overrides it makes Keras call all
            # batch hooks synchronously (on backends that would dispatch them asynchronously).
            self.on_train_batch_end = self._train_batch_end

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def logdir(self) -> str:
        """The run directory the events go to."""
        return self._logdir

    @property
    def schedule(self) -> Schedule:
        """The schedule, with its counters (``epochs``, ``batches``, ``step``, ``last_logged``)."""
        return self._schedule

    @property
    def logger(self) -> ActivationLogger | None:
        """The logger of the current (or last) ``fit``, or None before the first ``fit`` or off the chief."""
        return self._logger

    @property
    def logged_steps(self) -> list[int]:
        """Steps logged so far, across ``fit`` calls: written (``async_write``: queued for the writer); steps
        that failed as a whole are left out, steps where only some layers failed are listed."""
        return list(self._logged)

    @property
    def is_chief(self) -> bool:
        """Whether this process writes (set by each ``fit``; False off process 0 of a multi-process run)."""
        return self._chief

    # -- Keras hooks --------------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._chief = chief.is_chief(self.model)
        if self._chief and not self._schedule.off:
            self._start()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        # After the callbacks' on_train_begin: BackupAndRestore has restored the weights, the optimizer's
        # step count and the epoch by then, whatever the order of the callbacks.
        step = self._schedule.begin_epoch(epoch, batches=self._optimizer_steps())
        if step is not None:
            self._log(step)

    def _train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        done = batch + 1
        total = (self.params or {}).get("steps")
        if total:  # the last execution of an epoch may be partial: Keras reports its nominal end index
            done = min(done, int(total))
        step = self._schedule.end_batch(done)
        if step is not None:
            self._log(step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        step = self._schedule.end_epoch(epoch)
        if step is not None:
            self._log(step)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.close()

    # -- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Drain the writer queue, flush and close the event file. Idempotent.

        ``on_train_end`` calls it; call it yourself after catching an exception that ended ``fit`` early, to
        have pending background writes finished. A later ``fit`` opens a new event file and keeps counting.

        Raises:
            Exception: With ``on_error="raise"``, an error the writer thread hit and that was not raised yet.
        """
        background, self._background = self._background, None
        if background is not None:
            background.close()
        if self._logger is not None:
            self._logger.close()
        error, self._worker_error = self._worker_error, None
        if error is not None:
            raise error

    def _start(self) -> None:
        """Build the logger for this fit (and the writer thread); take a Dataset probe the first time."""
        model = self.model
        if self._probe is None:
            self._probe = take_samples(self._probe_source, model, self._probe_samples)
        previous, same_model = self._logger, self._logger_model is model
        if previous is not None and not previous.closed and same_model:
            return
        options = dict(self._logger_options)
        if (
            previous is not None
            and same_model
            and options.get("normalize") == "fixed"
            and options.get("value_range") is None
            and previous.value_ranges
        ):
            options["value_range"] = previous.value_ranges  # keep the scale measured by an earlier fit
        try:
            logger = ActivationLogger(
                self._logdir,
                model,
                self._layers,
                on_error="raise" if self._raise else "warn",
                **options,
            )
        except LogdirError as exc:  # the directory went bad since construction: no reason to stop training
            if self._raise:
                raise
            self._warn_once("logdir", exc, "no activations are logged during this fit")
            self._logger = None
            return
        if previous is not None and same_model:
            logger._share_probe(previous)  # the probe compiled by an earlier fit: nothing compiles again
        self._check_probe_fits(logger)
        self._logger = logger
        self._logger_model = model
        if self._async:
            self._background = BackgroundWriter(
                logger,
                on_error=self._background_error,
                max_steps=self._max_queue,
                name=f"tbactviz-writer:{self._logdir}",
            )

    def _check_probe_fits(self, logger: ActivationLogger) -> None:
        """Check the probe against the model and trace the forward pass on its first sample (compiling
        nothing where the backend can): a probe that does not fit, or nothing drawable, fails now. The
        probe, checked, is what every step of this fit runs."""
        self._checked = None
        try:
            self._checked = logger.extractor.check(self._probe, argument="probe")
        except ProbeError as exc:
            logger.close()
            raise ProbeError(f"ActivationCallback: {exc}") from exc
        except NoDrawableLayerError:
            logger.close()
            raise
        except Exception as exc:  # anything else is a logging error like any other: handled at each step
            _log.debug("tbactviz: probe check: %s", exc)

    # -- logging ------------------------------------------------------------------------------------------

    def _log(self, step: int) -> None:
        """Log ``step``: the probe's forward passes here, chunk by chunk; folding and writing here too, or on
        the writer thread with ``async_write``."""
        self._raise_worker_error()
        logger = self._logger
        if not self._chief or logger is None:
            return
        try:
            probe = self._checked or logger.extractor.checked(self._probe, argument="probe")
            n = probe.n
            chunks = logger.probe_chunks(probe)
            if self._background is not None:
                self._background.submit(step, n, chunks)  # waits while the queue is full
            else:
                logger.write_chunks(chunks, n, step)
        except Exception as exc:
            if self._raise:
                self._close_quietly()
                raise
            self._warn_once("step", exc, f"step {step}: logging activations failed")
            return
        self._logged.append(step)

    def _background_error(self, step: int, exc: Exception) -> None:
        """On the writer thread: a step could not be written."""
        if self._raise:
            if self._worker_error is None:
                self._worker_error = exc
        else:
            self._warn_once("write", exc, f"step {step}: writing activations failed")

    def _raise_worker_error(self) -> None:
        error = self._worker_error
        if error is not None:
            self._worker_error = None
            self._close_quietly()
            raise error

    def _close_quietly(self) -> None:
        """Close before raising an error out of ``fit`` (Keras does not call ``on_train_end`` then)."""
        try:
            self.close()
        except Exception as exc:  # the error being raised is the one that matters
            _log.debug("tbactviz: closing after an error: %s", exc)
        self._worker_error = None

    def _warn_once(self, where: str, exc: BaseException, what: str) -> None:
        self._warn(
            (where, type(exc).__name__),
            f"tbactviz: ActivationCallback: {what}: {type(exc).__name__}: {exc}"
            f"{out_of_memory_hint(exc, self._logger_options.get('batch_size'))} (training continues; further "
            "errors of this kind are logged at DEBUG level only; pass on_error='raise' to raise them)",
            stacklevel=2,
        )

    # -- what the model knows -----------------------------------------------------------------------------

    def _optimizer_steps(self) -> int | None:
        """``model.optimizer.iterations`` (optimizer steps made so far, restored on resume), or None."""
        iterations = getattr(getattr(self.model, "optimizer", None), "iterations", None)
        if iterations is None:
            return None
        try:
            return int(iterations.numpy())
        except Exception as exc:  # e.g. a variable that cannot be read here: count batches ourselves
            _log.debug("tbactviz: reading optimizer.iterations: %s", exc)
            return None

    def __repr__(self) -> str:
        return f"ActivationCallback(logdir={self._logdir!r}, layers={self._layers!r}, {self._schedule!r})"
