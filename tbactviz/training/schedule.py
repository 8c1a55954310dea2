"""When to log: every N epochs, every N batches, explicit steps, and once before training.

:class:`Schedule` is the clock of :class:`tbactviz.ActivationCallback`. The callback feeds it Keras' training
hooks (``begin_epoch``, ``end_batch``, ``end_epoch``); each hook that should produce an event returns the
step to log at, every other call returns ``None``. The clock keeps counting across repeated
``fit()`` calls, so steps only ever grow, and no step is returned twice.

Steps are counted in one unit:

* ``"epoch"`` (the default when no batch trigger is set): the step is the number of epochs completed, so the
  event logged after the first epoch has step 1 and step 0 is the network before training.
* ``"batch"`` (the default when ``every_n_batches > 0``): the step is the number of batches completed since
  the first ``fit``, across epochs and ``fit`` calls. Epoch triggers then log at the batch count reached at
  the end of the epoch, so both triggers share one axis in TensorBoard.

Resuming never writes a step twice. Each epoch starts with :meth:`Schedule.begin_epoch`, which gets Keras'
real epoch index (``fit(initial_epoch=k)`` and ``keras.callbacks.BackupAndRestore`` start past 0) and the
number of optimizer steps the model has made (``model.optimizer.iterations``, restored with the weights): the
counts jump forward to them, never back. So a new callback in a new process continues a run where the
previous process stopped; and step 0 (the untrained network) is logged only by a ``fit`` that starts at
epoch 0 of a model that has made no optimizer step. Epoch triggers then fire at the epochs that are multiples
of ``every_n_epochs`` or listed in ``steps``. A batch trigger fires when the batch counter reaches *or passes*
one of its steps: with ``steps_per_execution=k`` Keras calls the batch hooks only every ``k`` batches, the
counter advances by ``k`` at a time, and ``every_n_batches=n`` logs at the first counter value at or past
each multiple of ``n``.

This module imports nothing but the standard library and :mod:`tbactviz.checks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast

from tbactviz.checks import check_bool, check_choice, check_int, check_ints

__all__ = ["STEP_UNITS", "Schedule"]

StepUnit = Literal["epoch", "batch"]
STEP_UNITS: tuple[str, ...] = ("epoch", "batch")


def _check_count(name: str, value: Any, what: str) -> int:
    return check_int(name, value, minimum=0, valid=f"an int >= 0 (0 turns {what} off)")


def _check_index(name: str, value: Any) -> int:
    return check_int(name, value, minimum=0)


def _check_steps(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    valid = "None (off) or an iterable of ints >= 0, e.g. [1, 5, 10]"
    return tuple(sorted(set(check_ints("steps", value, minimum=0, valid=valid))))


def _crossed(prev: int, cur: int, every: int) -> bool:
    """Whether a positive multiple of ``every`` lies in ``(prev, cur]`` (``every == 0``: never)."""
    return every > 0 and cur // every > prev // every


class Schedule:
    """Decides at which steps activations are logged during ``fit``.

    Every trigger can be turned off on its own; with all of them off nothing is ever logged.

    Args:
        every_n_epochs: int. Log after every N-th completed epoch (epoch N, 2N, ...). 0 turns it off.
        every_n_batches: int. Log after every N-th completed batch, counted globally across epochs and
            ``fit`` calls. 0 turns it off. Setting it makes the step unit ``"batch"``.
        steps: Iterable of ints >= 0, or None (off). Explicit steps to log at, in the step unit (epochs
            completed, or batches completed with ``step_unit="batch"``). A batch step that is jumped over (by
            ``steps_per_execution``) logs at the first counter value past it. ``0`` in it means
            ``log_at_start=True``.
        log_at_start: bool. Log step 0 (the untrained network) when training starts: at the beginning of
            epoch 0 of a model that has made no optimizer step. False turns it off. A ``fit`` that starts
            later (resumed training, a second ``fit``) does not log at its start: the step it starts at was
            logged, or skipped on purpose, before. Step 0 is only ever logged by this trigger.
        step_unit: ``"epoch"``, ``"batch"`` or None (the default: ``"batch"`` if ``every_n_batches > 0``,
            else ``"epoch"``). Use ``step_unit="batch"`` with ``steps`` to name batch counts.

    Raises:
        TypeError: An argument has the wrong type; the message names it, the value and what is valid.
        ValueError: An argument has a wrong value; the message names it, the value and the valid values.

    Example:
        >>> s = Schedule(every_n_epochs=2)
        >>> s.begin_epoch(0, batches=0)  # the untrained network
        0
        >>> [s.end_epoch(e) for e in range(4)]
        [None, 2, None, 4]
        >>> resumed = Schedule(every_n_epochs=2)  # a new process: fit(initial_epoch=4) or BackupAndRestore
        >>> resumed.begin_epoch(4, batches=400), resumed.end_epoch(4), resumed.end_epoch(5)
        (None, None, 6)
        >>> s = Schedule(every_n_epochs=0, every_n_batches=5, log_at_start=False)
        >>> s.begin_epoch(0, batches=0)
        >>> [s.end_batch(n) for n in (4, 8, 12)]  # steps_per_execution=4: Keras' batch index 3, 7, 11
        [None, 8, 12]
        >>> s.end_epoch(0)  # no epoch trigger
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        every_n_batches: int = 0,
        steps: Iterable[int] | None = None,
        log_at_start: bool = True,
        step_unit: StepUnit | None = None,
    ) -> None:
        self._every_n_epochs = _check_count("every_n_epochs", every_n_epochs, "epoch logging")
        self._every_n_batches = _check_count("every_n_batches", every_n_batches, "batch logging")
        self._steps = _check_steps(steps)
        log_at_start = check_bool("log_at_start", log_at_start)
        if step_unit is None:
            step_unit = "batch" if self._every_n_batches else "epoch"
        else:
            valid = "'epoch', 'batch' or None (the unit of the triggers)"
            step_unit = cast("StepUnit", check_choice("step_unit", step_unit, STEP_UNITS, valid=valid))
        if step_unit == "epoch" and self._every_n_batches:
            raise ValueError(
                f"step_unit='epoch' cannot be combined with every_n_batches={self._every_n_batches}: batch "
                "triggers need step_unit='batch' (or None); set every_n_batches=0 to log per epoch"
            )
        self._unit: StepUnit = step_unit
        self._log_at_start = log_at_start or 0 in self._steps
        self._epochs = 0  # epochs completed, across fit calls
        self._batches = 0  # batches completed, across epochs and fit calls
        self._epoch_base = 0  # self._batches when the current epoch began
        self._last_logged: int | None = None

    # -- configuration ------------------------------------------------------------------------------------

    @property
    def unit(self) -> StepUnit:
        """``"epoch"`` or ``"batch"``: what a step counts."""
        return self._unit

    @property
    def every_n_epochs(self) -> int:
        """The epoch interval (0: off)."""
        return self._every_n_epochs

    @property
    def every_n_batches(self) -> int:
        """The batch interval (0: off)."""
        return self._every_n_batches

    @property
    def steps(self) -> tuple[int, ...]:
        """The explicit steps, sorted and without duplicates (empty: off)."""
        return self._steps

    @property
    def log_at_start(self) -> bool:
        """Whether step 0 (the untrained network) is logged when training starts."""
        return self._log_at_start

    @property
    def needs_batches(self) -> bool:
        """Whether the batch hooks matter (the step unit is ``"batch"``); if not, they need not be called."""
        return self._unit == "batch"

    @property
    def off(self) -> bool:
        """Whether no trigger is set, so that nothing will ever be logged."""
        return not (self._every_n_epochs or self._every_n_batches or self._steps or self._log_at_start)

    # -- state --------------------------------------------------------------------------------------------

    @property
    def epochs(self) -> int:
        """Epochs completed so far, across ``fit`` calls."""
        return self._epochs

    @property
    def batches(self) -> int:
        """Batches completed so far, across epochs and ``fit`` calls (as reported to :meth:`end_batch`, or
        the model's optimizer steps given to :meth:`begin_epoch`, whichever is ahead)."""
        return self._batches

    @property
    def step(self) -> int:
        """The current step in :attr:`unit`."""
        return self._batches if self._unit == "batch" else self._epochs

    @property
    def last_logged(self) -> int | None:
        """The last step returned by a hook, or None."""
        return self._last_logged

    # -- hooks --------------------------------------------------------------------------------------------

    def _due(self, due: bool) -> int | None:
        step = self.step
        if not due or (self._last_logged is not None and step <= self._last_logged):
            return None
        self._last_logged = step
        return step

    def begin_epoch(self, epoch: int, batches: int | None = None) -> int | None:
        """Call at the start of every epoch; returns 0 when the untrained network is to be logged, else None.

        Args:
            epoch: Keras' 0-based index of the epoch starting (past 0 when ``fit`` resumes training). The
                epoch count jumps forward to it, never back.
            batches: The optimizer steps the model has made so far (``model.optimizer.iterations``; restored
                with the weights when training resumes), or None when unknown. The batch count jumps forward
                to it, never back.

        Returns:
            0 if ``log_at_start`` and nothing was logged yet and training starts from scratch (epoch 0, no
            optimizer step), else None.
        """
        _check_index("epoch", epoch)
        if batches is not None:
            self._batches = max(self._batches, _check_index("batches", batches))
        self._epochs = max(self._epochs, epoch)
        self._epoch_base = self._batches
        fresh = epoch == 0 and self._epochs == 0 and self._batches == 0
        return self._due(self._log_at_start and self._last_logged is None and fresh)

    def end_batch(self, batches_in_epoch: int) -> int | None:
        """Call after a batch hook: ``batches_in_epoch`` batches of the current epoch are done.

        With ``steps_per_execution=k`` that is Keras' ``batch`` index + 1, and it grows by ``k`` per call.

        Returns:
            The step to log at, or None.
        """
        done = self._epoch_base + _check_index("batches_in_epoch", batches_in_epoch)
        prev, self._batches = self._batches, max(self._batches, done)
        if self._unit != "batch":
            return None
        cur = self._batches
        due = _crossed(prev, cur, self._every_n_batches) or any(prev < s <= cur for s in self._steps)
        return self._due(due)

    def end_epoch(self, epoch: int) -> int | None:
        """Call at the end of every epoch with Keras' 0-based epoch index.

        The epoch count grows by one, or jumps to ``epoch + 1`` when ``fit`` started past the count (resumed
        training), so it never goes backwards.

        Returns:
            The step to log at, or None.
        """
        # A jump (initial_epoch) re-bases the count rather than passing over steps: epoch N is the N-th.
        self._epochs = cur = max(self._epochs + 1, _check_index("epoch", epoch) + 1)
        due = _crossed(cur - 1, cur, self._every_n_epochs) or (self._unit == "epoch" and cur in self._steps)
        return self._due(due and self.step > 0)  # step 0 is log_at_start's (an epoch without batches)

    def __repr__(self) -> str:
        return (
            f"Schedule(every_n_epochs={self._every_n_epochs}, every_n_batches={self._every_n_batches}, "
            f"steps={list(self._steps)}, log_at_start={self._log_at_start}, step_unit={self._unit!r}; "
            f"epochs={self._epochs}, batches={self._batches}, last_logged={self._last_logged})"
        )
