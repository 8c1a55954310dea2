"""Schedule: when the callback logs (pure, no TensorFlow: these tests run in milliseconds)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tbactviz.training.schedule import Schedule


def simulate(
    schedule: Schedule,
    fits: list[tuple[int, int, int]],
    steps_per_execution: int = 1,
    optimizer_steps: int | None = 0,
) -> list[int]:
    """Drive ``schedule`` like Keras' fit loop; ``fits`` = [(initial_epoch, epochs, batches per epoch)].

    ``optimizer_steps``: the model's ``optimizer.iterations`` when the first fit starts (None: unknown); it
    grows with every batch trained, as the callback reads it at each epoch's start.
    """
    logged = []
    trained = optimizer_steps

    def add(step: int | None) -> None:
        if step is not None:
            logged.append(step)

    for initial_epoch, epochs, batches in fits:
        for epoch in range(initial_epoch, epochs):
            add(schedule.begin_epoch(epoch, batches=trained))
            if schedule.needs_batches:
                for begin in range(0, batches, steps_per_execution):
                    end = begin + steps_per_execution - 1  # Keras' nominal end index
                    add(schedule.end_batch(min(end + 1, batches)))
            if trained is not None:
                trained += batches
            add(schedule.end_epoch(epoch))
    return logged


def test_no_tensorflow_import() -> None:
    assert "tbactviz.training.schedule" in sys.modules
    assert "tensorflow" not in vars(sys.modules["tbactviz.training.schedule"])


def test_default_logs_step_zero_then_every_epoch() -> None:
    s = Schedule()
    assert (s.unit, s.every_n_epochs, s.every_n_batches, s.steps, s.log_at_start) == ("epoch", 1, 0, (), True)
    assert simulate(s, [(0, 3, 5)]) == [0, 1, 2, 3]
    assert (s.epochs, s.step, s.last_logged) == (3, 3, 3)


def test_every_n_epochs() -> None:
    assert simulate(Schedule(every_n_epochs=3), [(0, 7, 2)]) == [0, 3, 6]
    assert simulate(Schedule(every_n_epochs=3, log_at_start=False), [(0, 7, 2)]) == [3, 6]


def test_everything_off_logs_nothing() -> None:
    s = Schedule(every_n_epochs=0, log_at_start=False)
    assert s.off
    assert simulate(s, [(0, 4, 3)]) == []
    assert not Schedule(every_n_epochs=0).off


def test_step_zero_only_once_and_monotonic_across_fits() -> None:
    s = Schedule(every_n_epochs=2)
    assert simulate(s, [(0, 3, 2), (0, 3, 2)]) == [0, 2, 4, 6]


def test_initial_epoch_jumps_forward_never_back() -> None:
    # fit(epochs=2); fit(initial_epoch=5, epochs=7) (resumed training); fit(epochs=1) (restart at index 0)
    assert simulate(Schedule(), [(0, 2, 1), (5, 7, 1), (0, 1, 1)]) == [0, 1, 2, 6, 7, 8]
    # a jump re-bases the count, it does not pass over steps: epochs 3 and 5 are not multiples of 2 or 4;
    # a first fit that starts at epoch 2 does not log the untrained step 0
    assert simulate(Schedule(every_n_epochs=2, steps=[4]), [(2, 3, 1), (4, 6, 1)]) == [6]


def test_resuming_in_a_new_process_continues_and_never_repeats_a_step() -> None:
    # process 1: 3 epochs of 5 batches, interrupted; process 2: a new schedule, the model restored
    # (BackupAndRestore or fit(initial_epoch=3) on a reloaded model: epoch 3, 15 optimizer steps)
    first = simulate(Schedule(), [(0, 3, 5)])
    second = simulate(Schedule(), [(3, 6, 5)], optimizer_steps=15)
    assert (first, second) == ([0, 1, 2, 3], [4, 5, 6])
    first = simulate(Schedule(every_n_epochs=0, every_n_batches=4), [(0, 2, 5)])
    second = simulate(Schedule(every_n_epochs=0, every_n_batches=4), [(2, 4, 5)], optimizer_steps=10)
    assert (first, second) == ([0, 4, 8], [12, 16, 20])
    # BackupAndRestore saving mid-epoch: weights of batch 7 restored, the epoch (1) replayed from its start
    second = simulate(Schedule(every_n_epochs=0, every_n_batches=4), [(1, 3, 5)], optimizer_steps=7)
    assert second == [8, 12, 16]


def test_step_zero_only_for_an_untrained_model() -> None:
    # epoch 0 of a model that already made optimizer steps (weights loaded with the optimizer): not step 0
    assert simulate(Schedule(), [(0, 2, 3)], optimizer_steps=30) == [1, 2]
    assert simulate(Schedule(every_n_epochs=0, every_n_batches=2), [(0, 1, 4)], optimizer_steps=30) == [
        32,
        34,
    ]
    # optimizer steps unknown: the epoch index alone decides
    assert simulate(Schedule(), [(0, 2, 3)], optimizer_steps=None) == [0, 1, 2]


def test_optimizer_steps_never_move_the_batch_count_back() -> None:
    s = Schedule(every_n_epochs=0, every_n_batches=5, log_at_start=False)
    assert simulate(s, [(0, 2, 10)]) == [5, 10, 15, 20]
    # a re-compiled model (new optimizer, iterations back at 0) keeps counting from 20
    assert simulate(s, [(0, 1, 10)], optimizer_steps=0) == [25, 30]


def test_every_n_batches_counts_globally_across_epochs_and_fits() -> None:
    s = Schedule(every_n_epochs=0, every_n_batches=4)
    assert s.unit == "batch" and s.needs_batches
    assert simulate(s, [(0, 2, 5), (0, 1, 5)]) == [0, 4, 8, 12]
    assert s.batches == 15


def test_epoch_and_batch_triggers_share_the_batch_axis_without_duplicates() -> None:
    s = Schedule(every_n_epochs=1, every_n_batches=5, log_at_start=False)
    # 10 batches per epoch: batch 10 and the end of epoch 1 are the same step, logged once.
    assert simulate(s, [(0, 2, 10)]) == [5, 10, 15, 20]
    s = Schedule(every_n_epochs=1, every_n_batches=4, log_at_start=False)
    assert simulate(s, [(0, 2, 6)]) == [4, 6, 8, 12]


def test_steps_per_execution_advances_the_counter_by_k() -> None:
    s = Schedule(every_n_epochs=0, every_n_batches=4, log_at_start=False)
    # k=3, 10 batches per epoch: the hooks see 3, 6, 9, 10 | 13, 16, 19, 20
    assert simulate(s, [(0, 2, 10)], steps_per_execution=3) == [6, 9, 13, 16, 20]


def test_explicit_epoch_steps() -> None:
    s = Schedule(every_n_epochs=0, steps=[5, 2, 2], log_at_start=False)
    assert s.steps == (2, 5)
    assert simulate(s, [(0, 6, 1)]) == [2, 5]


def test_explicit_steps_with_zero_mean_log_at_start() -> None:
    s = Schedule(every_n_epochs=0, steps=[0, 3], log_at_start=False)
    assert s.log_at_start
    assert simulate(s, [(0, 4, 1)]) == [0, 3]


def test_explicit_batch_steps_jumped_over_log_at_the_next_hook() -> None:
    s = Schedule(every_n_epochs=0, steps=[1, 7, 100], step_unit="batch", log_at_start=False)
    # 5 batches per epoch, k=2: the hooks see 2, 4, 5 | 7, 9, 10
    assert simulate(s, [(0, 2, 5)], steps_per_execution=2) == [2, 7]


def test_explicit_steps_combined_with_interval() -> None:
    assert simulate(Schedule(every_n_epochs=4, steps=[1]), [(0, 8, 1)]) == [0, 1, 4, 8]


def test_batch_hook_not_needed_in_epoch_unit() -> None:
    s = Schedule()
    assert not s.needs_batches
    s.begin_epoch(0)
    assert s.end_batch(3) is None  # counted but never a trigger in the epoch unit
    assert s.batches == 3


def test_batches_never_go_backwards() -> None:
    s = Schedule(every_n_epochs=0, every_n_batches=2, log_at_start=False)
    s.begin_epoch(0)
    assert s.end_batch(4) == 4
    assert s.end_batch(3) is None
    assert s.batches == 4


def test_an_epoch_without_batches_does_not_log_step_zero_in_the_batch_unit() -> None:
    s = Schedule(every_n_batches=3, log_at_start=False)
    assert simulate(s, [(0, 1, 0), (0, 1, 3)]) == [3]


def test_repr_shows_configuration_and_state() -> None:
    text = repr(Schedule(every_n_epochs=2, steps=[3]))
    assert "every_n_epochs=2" in text and "steps=[3]" in text and "last_logged=None" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "fragments"),
    [
        ({"every_n_epochs": -1}, ValueError, ["every_n_epochs=-1", "int >= 0", "0 turns epoch logging off"]),
        ({"every_n_epochs": 1.5}, TypeError, ["every_n_epochs=1.5", "int >= 0", "got float"]),
        ({"every_n_epochs": True}, TypeError, ["every_n_epochs=True", "got bool"]),
        ({"every_n_batches": -2}, ValueError, ["every_n_batches=-2", "0 turns batch logging off"]),
        ({"every_n_batches": "10"}, TypeError, ["every_n_batches='10'"]),
        ({"steps": 5}, TypeError, ["steps=5", "iterable of ints >= 0"]),
        ({"steps": "12"}, TypeError, ["steps='12'", "iterable of ints"]),
        ({"steps": [1, -3]}, ValueError, ["steps=[1, -3]", "-3 is below 0", "ints >= 0"]),
        ({"steps": [1.0]}, TypeError, ["1.0 is not an int"]),
        ({"log_at_start": 1}, TypeError, ["log_at_start=1", "True or False"]),
        ({"step_unit": "epochs"}, ValueError, ["step_unit='epochs'", "'epoch'", "'batch'", "None"]),
        (
            {"step_unit": "epoch", "every_n_batches": 3},
            ValueError,
            ["step_unit='epoch'", "every_n_batches=3", "'batch'"],
        ),
    ],
)
def test_invalid_arguments_name_argument_value_and_options(
    kwargs: dict, error: type[Exception], fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        Schedule(**kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_hook_arguments_are_checked() -> None:
    s = Schedule()
    with pytest.raises(ValueError, match="epoch=-1"):
        s.end_epoch(-1)
    with pytest.raises(ValueError, match="batches_in_epoch=-1"):
        s.end_batch(-1)


def test_numpy_like_ints_are_accepted() -> None:
    class Index:
        def __index__(self) -> int:
            return 2

        def __int__(self) -> int:
            return 2

        def __lt__(self, other: int) -> bool:
            return other > 2

    assert Schedule(every_n_epochs=Index()).every_n_epochs == 2  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    every_n_epochs=st.integers(0, 4),
    every_n_batches=st.integers(0, 7),
    steps=st.lists(st.integers(0, 40), max_size=4),
    log_at_start=st.booleans(),
    fits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 6)), min_size=1, max_size=3),
    steps_per_execution=st.integers(1, 4),
)
def test_steps_strictly_increase_and_match_the_triggers(
    every_n_epochs: int,
    every_n_batches: int,
    steps: list[int],
    log_at_start: bool,
    fits: list[tuple[int, int, int]],
    steps_per_execution: int,
) -> None:
    s = Schedule(every_n_epochs, every_n_batches, steps, log_at_start)
    fits = [(start, start + n, batches) for start, n, batches in fits]
    logged = simulate(s, fits, steps_per_execution)
    assert logged == sorted(set(logged))
    # step 0 (the untrained network): only if the first fit that trains starts at epoch 0
    first = next((start for start, end, _ in fits if end > start), None)
    assert (0 in logged) == ((log_at_start or 0 in steps) and first == 0)
    if s.off:
        assert logged == []
    if steps_per_execution == 1 and s.unit == "batch" and every_n_batches and not steps:
        # every multiple of n that the counter reached is logged
        assert {b for b in range(1, s.batches + 1) if b % every_n_batches == 0} <= set(logged)
    if s.unit == "epoch" and every_n_epochs and not steps:
        assert set(logged) - {0} <= {e for e in range(1, s.epochs + 1) if e % every_n_epochs == 0}
