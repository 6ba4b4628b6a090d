"""The structure of a saved Annoy forest, checked before Annoy memory-maps it.

Annoy trusts its file: a node that names a child outside the file, a negative descendant
count or a cycle makes a query read out of bounds (a segmentation fault, not an exception).
``check_annoy_file`` reads the file as Annoy 1.17 lays it out and refuses anything a build
could not have written, so a query on a file that passed cannot crash.

Layout: ``n_nodes`` nodes of ``node_bytes(f, metric)`` bytes each (``f``: the indexed vector
length). A node is ``int32 n_descendants``, then ``int32 children[2]`` (overlapping the
first of up to ``K`` item ids when ``2 <= n_descendants <= K``), for ``dot`` a ``float32``
factor, then ``float32 v[f]``. Nodes ``0..n_items-1`` are the items (``n_descendants == 1``);
every later node splits (``n_descendants > K``: two children of smaller index) or lists its
items; the forest ends with a copy of every root, whose ``n_descendants`` is ``n_items``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lever_gym.errors import LibraryError


def node_bytes(f: int, metric: str) -> int:
    """Bytes of one node for vectors of length ``f`` under Annoy metric ``metric``."""
    return (16 if metric == "dot" else 12) + 4 * f


@dataclass(frozen=True)
class AnnoyFacts:
    """What the manifest records of an Annoy file, to check it before it is mapped."""

    bytes: int
    f: int
    """Length of the indexed vectors (the embedding's, plus one for ``angular-mips``)."""
    metric: str
    """Annoy's metric: ``angular`` or ``dot``."""
    items: int
    trees: int

    def to_dict(self) -> dict[str, int | str]:
        """JSON-plain form."""
        return {"bytes": self.bytes, "f": self.f, "metric": self.metric,
                "items": self.items, "trees": self.trees}  # fmt: skip


def check_annoy_file(path: Path, facts: AnnoyFacts) -> None:
    """Raise ``LibraryError`` unless ``path`` is an Annoy forest with exactly ``facts``
    whose every node is well formed (see the module docstring)."""
    size = path.stat().st_size
    width = node_bytes(facts.f, facts.metric)
    if size != facts.bytes or size % width or size // width <= facts.items:
        _refuse(path, f"{size:,} bytes where the manifest records {facts.bytes:,}")
    nodes = np.fromfile(path, dtype="<i4").reshape(-1, width // 4)
    floats, count, k = nodes.view("<f4"), nodes[:, 0], (width - 4) // 4
    index = np.arange(len(nodes))
    items = index < facts.items
    if np.any(count[items] != 1) or not np.isfinite(floats[items, 3:]).all():
        _refuse(path, "an item node that is not a finite vector")
    lists = ~items & (count >= 1) & (count <= k)
    splits = ~items & (count > k)
    if np.any(~items & ~lists & ~splits):
        _refuse(path, "a node with fewer than one descendant")
    listed = nodes[lists, 1 : 1 + k]
    used = np.arange(k)[None, :] < count[lists, None]
    if np.any(used & ((listed < 0) | (listed >= facts.items))):
        _refuse(path, "a leaf naming an item that does not exist")
    children = nodes[splits, 1:3]
    if np.any((children < 0) | (children >= index[splits, None])):
        _refuse(path, "a split whose child is not an earlier node")
    if not np.isfinite(floats[splits, 3:]).all():
        _refuse(path, "a split plane that is not finite")
    run = len(nodes) - int(np.flatnonzero(count != count[-1]).max(initial=-1)) - 1
    if count[-1] != facts.items or min(run, len(nodes) - facts.items) < facts.trees:
        _refuse(path, f"{run} roots over {int(count[-1])} items")


def _refuse(path: Path, what: str) -> None:
    raise LibraryError(
        f"the Annoy index {path} is not one lever_gym wrote ({what}); it was not loaded. "
        "Rebuild the library's index with `lever-gym build-library`."
    )
