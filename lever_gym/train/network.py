"""Small fully connected networks kept as named float32 arrays, never pickled.

A ``NetworkSchema`` (JSON-plain, stored in a library's manifest) names every array of a
network and its shape; ``check_arrays`` refuses any set of arrays that does not match it
exactly, so weights read from an ``.npz`` are checked against the schema before use.
``forward`` runs the network in numpy (composition needs no torch); ``torch_module`` and
``arrays_of`` convert to and from the torch module that trains it (torch is imported on use).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.errors import ConfigError, LibraryError

MAX_WIDTH = 4096
"""Widest layer (inputs included) a schema may declare."""
MAX_LAYERS = 8
"""Most hidden layers a schema may declare."""


@dataclass(frozen=True)
class NetworkSchema:
    """An MLP ``input_dim -> hidden... -> output_dim`` with ReLU between layers; its arrays
    are ``layer{i}.weight`` (shape ``(out, in)``) and ``layer{i}.bias`` (``(out,)``)."""

    input_dim: int
    hidden: tuple[int, ...]
    output_dim: int

    def __post_init__(self) -> None:
        """Bound every size before anything is allocated from it."""
        checks.int_in(self.input_dim, "network input_dim", 1, MAX_WIDTH)
        checks.int_in(self.output_dim, "network output_dim", 1, MAX_WIDTH)
        hidden = tuple(self.hidden) if isinstance(self.hidden, list | tuple) else None
        if hidden is None or len(hidden) > MAX_LAYERS:
            raise ConfigError(
                f"network hidden must be a list of at most {MAX_LAYERS} layer widths; got "
                f"{checks.shown(self.hidden)}."
            )
        for width in hidden:
            checks.int_in(width, "network hidden width", 1, MAX_WIDTH)
        object.__setattr__(self, "hidden", tuple(int(w) for w in hidden))

    @property
    def widths(self) -> tuple[int, ...]:
        """Every layer's width, inputs first."""
        return (self.input_dim, *self.hidden, self.output_dim)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The name and shape of every array, in layer order."""
        out: dict[str, tuple[int, ...]] = {}
        for i, (n_in, n_out) in enumerate(itertools.pairwise(self.widths)):
            out[f"layer{i}.weight"] = (n_out, n_in)
            out[f"layer{i}.bias"] = (n_out,)
        return out

    @property
    def n_parameters(self) -> int:
        """Number of floats in its arrays."""
        return sum(int(np.prod(s)) for s in self.shapes().values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return {
            "input_dim": self.input_dim,
            "hidden": list(self.hidden),
            "output_dim": self.output_dim,
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "network") -> NetworkSchema:
        """Inverse of ``to_dict``; ``LibraryError`` naming ``where`` on any other shape."""
        keys = {"input_dim", "hidden", "output_dim"}
        if not isinstance(data, Mapping) or set(data) != keys:
            raise LibraryError(
                f"{where} must be an object with exactly {sorted(keys)}; got "
                f"{checks.shown(data)}. Rebuild the library."
            )
        try:
            return cls(int(data["input_dim"]), tuple(data["hidden"]), int(data["output_dim"]))
        except (ConfigError, TypeError, ValueError) as exc:
            raise LibraryError(f"{where}: {exc} Rebuild the library.") from None


def check_arrays(
    schema: NetworkSchema, arrays: Mapping[str, Any], where: str
) -> dict[str, np.ndarray]:
    """``arrays`` as float32 arrays if they are exactly the schema's (names, shapes, finite);
    else ``LibraryError`` naming ``where``."""
    want = schema.shapes()
    if set(arrays) != set(want):
        raise LibraryError(
            f"{where} holds arrays {sorted(arrays)}; its schema names {sorted(want)}. The "
            "weights and the manifest disagree: rebuild the library."
        )
    out = {}
    for name, shape in want.items():
        a = np.asarray(arrays[name])
        if a.shape != shape or a.dtype != np.float32 or not np.all(np.isfinite(a)):
            raise LibraryError(
                f"{where}: array {name} must be finite float32 of shape {shape}; got {a.dtype} "
                f"of shape {a.shape}. Rebuild the library."
            )
        out[name] = a
    return out


def forward(schema: NetworkSchema, arrays: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network's outputs (float32, shape ``(n, output_dim)``) for inputs ``(n, input_dim)``."""
    h = np.asarray(x, dtype=np.float32)
    if h.ndim != 2 or h.shape[1] != schema.input_dim:
        raise ConfigError(
            f"network inputs must have shape (n, {schema.input_dim}); got {h.shape}. Observe "
            "the states in the mode the network was trained on."
        )
    last = len(schema.widths) - 2
    for i in range(last + 1):
        h = h @ arrays[f"layer{i}.weight"].T + arrays[f"layer{i}.bias"]
        if i < last:
            np.maximum(h, 0.0, out=h)
    return h


def torch_module(schema: NetworkSchema, seed: int) -> Any:
    """A fresh torch ``Sequential`` of ``schema``, initialised from ``seed``."""
    import torch

    generator = torch.Generator().manual_seed(checks.seed(seed))
    layers: list[Any] = []
    widths = schema.widths
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        linear = torch.nn.Linear(n_in, n_out)
        bound = 1.0 / np.sqrt(n_in)  # torch's default initialisation, from our generator
        with torch.no_grad():
            linear.weight.uniform_(-bound, bound, generator=generator)
            linear.bias.uniform_(-bound, bound, generator=generator)
        layers.append(linear)
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def arrays_of(module: Any, schema: NetworkSchema) -> dict[str, np.ndarray]:
    """The named float32 arrays of a module built by ``torch_module(schema, ...)``."""
    linears = [m for m in module if hasattr(m, "weight")]
    out = {}
    for i, linear in enumerate(linears):
        out[f"layer{i}.weight"] = linear.weight.detach().cpu().numpy().astype(np.float32)
        out[f"layer{i}.bias"] = linear.bias.detach().cpu().numpy().astype(np.float32)
    return check_arrays(schema, out, "the trained module")


def load_into(module: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Copy named arrays into a module built by ``torch_module`` (same schema)."""
    import torch

    linears = [m for m in module if hasattr(m, "weight")]
    with torch.no_grad():
        for i, linear in enumerate(linears):
            linear.weight.copy_(torch.from_numpy(np.asarray(arrays[f"layer{i}.weight"])))
            linear.bias.copy_(torch.from_numpy(np.asarray(arrays[f"layer{i}.bias"])))
