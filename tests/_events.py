"""Reading event files back in tests, the way TensorBoard does (its own EventAccumulator)."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import types_pb2
from tensorboard.util import tensor_util


@dataclass(frozen=True)
class Record:
    run: str
    tag: str
    step: int
    plugin: str
    value: (
        object  # decoded: list of PIL images + (w, h) for images, ndarray for histograms, float for scalars
    )


def event_files(logdir: str | os.PathLike[str]) -> list[str]:
    """Every event file below ``logdir``."""
    out = []
    for root, _dirs, files in os.walk(logdir):
        out += [os.path.join(root, f) for f in files if "tfevents" in f]
    return sorted(out)


def read_events(logdir: str | os.PathLike[str], *, own: bool = False) -> list[Record]:
    """Every summary value below ``logdir`` as (run, tag, step, plugin, decoded value).

    The tensor summaries only tbactviz's own tab reads (plugin ``"tbactviz"``: ``layout/``, ``channels/``) are
    left out unless ``own=True``, so that tests of the stock summaries see what the stock dashboards see.
    """
    runs = sorted({os.path.relpath(os.path.dirname(f), logdir) for f in event_files(logdir)})
    records = []
    for run in runs:
        acc = event_accumulator.EventAccumulator(
            os.path.join(logdir, run),
            size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0},
        )
        acc.Reload()
        for tag in acc.Tags()["tensors"]:
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            if plugin == "tbactviz" and not own:
                continue
            for ev in acc.Tensors(tag):
                records.append(Record(run, tag, ev.step, plugin, _decode(plugin, ev.tensor_proto)))
    return records


def _decode(plugin: str, proto: object) -> object:
    if plugin == "images":
        w, h, *pngs = proto.string_val  # type: ignore[attr-defined]
        return (int(w), int(h)), [Image.open(io.BytesIO(p)) for p in pngs]
    if proto.dtype == types_pb2.DT_STRING:  # type: ignore[attr-defined]  # text summaries (Keras' model config)
        return list(proto.string_val)  # type: ignore[attr-defined]
    arr = tensor_util.make_ndarray(proto)
    return float(arr) if arr.ndim == 0 else np.asarray(arr)


def run_tags(logdir: str | os.PathLike[str]) -> set[tuple[str, str]]:
    """The set of (run, tag) written below ``logdir``."""
    return {(r.run, r.tag) for r in read_events(logdir)}
