"""Laying a batch of variable-length examples out as model rows: right-padded, or packed.

[`layout_batch`] is shared by every collator of the char-GPT study (span corruption, birthplace
questions, replay): each collator produces per-example rows and this module turns them into
`input_ids` / `labels` (and `position_ids` for packed rows) as `CharGPTForCausalLM` takes them.
Packed rows hold several examples with `position_ids` restarting at 0 for each; the model's masks
keep them apart, so targets and loss equal those of one example per row (docs/definitions.md,
"Span corruption"). transformers' `DataCollatorWithFlattening` packs into a single row with no
capacity; the study needs rows of at most `block_size - 1` tokens, hence this module.
"""

from __future__ import annotations

import numpy as np
import torch

#: Label value the loss ignores (PyTorch's and transformers' convention).
IGNORE_INDEX = -100


def first_fit(sizes: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, offset) of each example packed into rows of `capacity`, and the row fills.

    First-fit decreasing: examples are placed longest first (ties in batch order), each into the
    first row with room. On wiki.txt batches of 128 it fills ~96 % of the slots against ~90 % for
    first fit in batch order (6 % fewer tokens), and it is deterministic."""
    if sizes.size and int(sizes.max()) > capacity:
        i = int(np.argmax(sizes))
        raise ValueError(f"example {i} has {int(sizes[i])} tokens, more than the row capacity {capacity}")
    fills: list[int] = []
    rows = np.empty(len(sizes), dtype=np.int64)
    offsets = np.empty(len(sizes), dtype=np.int64)
    for i in np.argsort(-sizes, kind="stable").tolist():
        size = int(sizes[i])
        row = next((r for r, fill in enumerate(fills) if fill + size <= capacity), len(fills))
        if row == len(fills):
            fills.append(0)
        rows[i], offsets[i] = row, fills[row]
        fills[row] += size
    return rows, offsets, np.asarray(fills, dtype=np.int64)


def layout_batch(
    tokens: np.ndarray,
    valid: np.ndarray,
    sizes: np.ndarray,
    capacity: int,
    pad_id: int,
    pack: bool,
    pad_to_block: bool,
    labels: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """Right-padded or packed `input_ids` / `labels` (+ `position_ids`) from per-example rows.

    Args:
        tokens (`np.ndarray`): (batch, width) ids, example `i` in its first `sizes[i]` positions.
        valid (`np.ndarray`): (batch, width) booleans, True inside each example.
        sizes (`np.ndarray`): (batch,) example lengths.
        capacity (`int`): the longest row, `block_size - 1`; a longer example is a `ValueError`.
        pad_id (`int`): the PAD id used for input padding.
        pack (`bool`): pack the examples into rows ([`first_fit`]) with `position_ids`; otherwise
            one right-padded example per row and no `position_ids`.
        pad_to_block (`bool`): rows of exactly `capacity` tokens (the original's shapes) rather
            than of the longest row.
        labels (`np.ndarray`, *optional*): (batch, width) targets; default `tokens`.

    Padding is PAD in the inputs and -100 in the labels; the first label of every example is -100
    (nothing precedes it)."""
    if labels is None:
        labels = tokens
    labels = np.where(valid, labels, IGNORE_INDEX)
    labels[:, 0] = IGNORE_INDEX
    if int(sizes.max()) > capacity:
        raise ValueError(f"an example has {int(sizes.max())} tokens, more than block_size - 1 = {capacity}")
    if not pack:
        width = capacity if pad_to_block else int(sizes.max())
        input_ids = np.full((len(sizes), width), pad_id, dtype=np.int64)
        out_labels = np.full((len(sizes), width), IGNORE_INDEX, dtype=np.int64)
        w = min(width, tokens.shape[1])
        input_ids[:, :w] = np.where(valid[:, :w], tokens[:, :w], pad_id)
        out_labels[:, :w] = labels[:, :w]
        return {"input_ids": torch.from_numpy(input_ids), "labels": torch.from_numpy(out_labels)}
    rows, offsets, fills = first_fit(sizes, capacity)
    if not pad_to_block and len(fills) * int(fills.max()) > len(sizes) * int(sizes.max()):
        # Packing pays only when its rows come out full: for a few examples of similar length
        # (four of 40 tokens pack into rows of 120 and 40, padded to 120), one example per row is
        # fewer tokens. Same outputs, positions restarting in every row.
        rows, offsets, fills = (
            np.arange(len(sizes)),
            np.zeros(len(sizes), dtype=np.int64),
            sizes.astype(np.int64),
        )
    width = capacity if pad_to_block else int(fills.max())
    n_rows = len(fills)
    j = np.arange(tokens.shape[1], dtype=np.int64)[None, :]
    dest = ((rows * width + offsets)[:, None] + j)[valid]
    input_ids = np.full(n_rows * width, pad_id, dtype=np.int64)
    out_labels = np.full(n_rows * width, IGNORE_INDEX, dtype=np.int64)
    positions = np.zeros(n_rows * width, dtype=np.int64)
    input_ids[dest] = tokens[valid]
    out_labels[dest] = labels[valid]
    positions[dest] = np.broadcast_to(j, tokens.shape)[valid]
    input_ids = input_ids.reshape(n_rows, width)
    out_labels = out_labels.reshape(n_rows, width)
    positions = positions.reshape(n_rows, width)
    # Padding at the end of a row continues the positions of the row's last example (< capacity),
    # so it forms no new example; its labels are -100.
    last_start = np.zeros(n_rows, dtype=np.int64)
    np.maximum.at(last_start, rows, offsets)
    k = np.arange(width, dtype=np.int64)[None, :]
    pad = k >= fills[:, None]
    positions = np.where(pad, k - last_start[:, None], positions)
    return {
        "input_ids": torch.from_numpy(input_ids),
        "labels": torch.from_numpy(out_labels),
        "position_ids": torch.from_numpy(positions),
    }


__all__ = ["IGNORE_INDEX", "first_fit", "layout_batch"]
