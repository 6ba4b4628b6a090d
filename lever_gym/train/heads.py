"""The offline heads of a neural member, fitted on its own dataset (torch on use).

* Successor features ``ψ(o, a)`` (one value per reward component and action) by TD for the
  member's greedy policy π: the loss is the mean squared error of
  ``ψ(o, a)`` against ``φ + γ (1 − terminal) ψ̄(o', π(o'))`` over minibatches of the recorded
  steps, ``φ`` the step's reward components and ``ψ̄`` a target copy refreshed every
  ``target_every`` steps. Truncated steps bootstrap (the time limit is not in the
  observation). The targets are fitted divided by the largest recorded ``|φ|`` (the output
  layer is scaled back), so the step size does not depend on the reward scale.
  ``ψ(o, a) · w`` then estimates the member's Q-value under any weights ``w``.
* A behaviour model ``μ(a | o)``: a classifier of the recorded actions (cross-entropy), the
  support estimate of discrete BCQ (an action is supported where ``μ(a|o) / max μ ≥ τ``).

``HeadConfig`` is the budget (gradient steps, batch, learning rate); every draw comes from
its seed. ``exact_successor_features`` is the reference the fit is measured against: policy
evaluation of the same greedy policy on a layout's true model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS, TabularModel
from lever_gym.errors import ConfigError
from lever_gym.train.network import NetworkSchema, arrays_of, forward, torch_module

EXACT_TAIL = 1e-8
"""Exact successor features iterate until ``γ**k`` falls below this."""


@dataclass(frozen=True, eq=False)
class Transitions:
    """Recorded steps: observations before and after, actions, reward components, terminals."""

    obs: np.ndarray
    actions: np.ndarray
    components: np.ndarray
    next_obs: np.ndarray
    terminal: np.ndarray

    def __post_init__(self) -> None:
        """Check one row per step everywhere and float32 observations."""
        n = len(self.actions)
        shapes = [len(self.obs), len(self.components), len(self.next_obs), len(self.terminal)]
        if n == 0 or any(m != n for m in shapes) or self.obs.shape != self.next_obs.shape:
            raise ConfigError(
                f"transitions need one row per step in every array (actions: {n}, obs, "
                f"components, next_obs, terminal: {shapes}); build them from one dataset."
            )
        object.__setattr__(self, "obs", np.asarray(self.obs, np.float32))
        object.__setattr__(self, "next_obs", np.asarray(self.next_obs, np.float32))


@dataclass(frozen=True, kw_only=True)
class HeadConfig:
    """The budget of one head's fit."""

    steps: int = 4000
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden: tuple[int, ...] = (128, 128)
    gamma: float = 0.99
    target_every: int = 50
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        """Validate the fields."""
        for name in ("steps", "batch_size", "target_every"):
            checks.positive_int(getattr(self, name), f"head {name}")
        checks.real(self.learning_rate, "head learning_rate", 0.0, 1.0, closed="right")
        checks.gamma(self.gamma, "head gamma")
        checks.int_in(self.threads, "head threads", 1, 64)
        checks.seed(self.seed)
        NetworkSchema(1, tuple(self.hidden), 1)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return {**asdict(self), "hidden": list(self.hidden)}


@dataclass(frozen=True, eq=False)
class Head:
    """A fitted head: its schema, arrays and final training loss."""

    schema: NetworkSchema
    arrays: dict[str, np.ndarray]
    loss: float

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Outputs for a batch of observations, shape ``(n, output_dim)``."""
        return forward(self.schema, self.arrays, obs)


def successor_outputs(head: Head, obs: np.ndarray, n_components: int) -> np.ndarray:
    """``ψ(o, ·)`` of a successor head as ``(n, A, n_components)``."""
    return head(obs).reshape(len(obs), N_ACTIONS, n_components)


def fit_successor_head(data: Transitions, next_actions: np.ndarray, config: HeadConfig) -> Head:
    """ψ for the policy that takes ``next_actions`` (its greedy action at each ``next_obs``),
    by TD on ``data`` (module docstring)."""
    import torch

    n, n_comp = data.components.shape
    schema = NetworkSchema(data.obs.shape[1], config.hidden, N_ACTIONS * n_comp)
    net, target = torch_module(schema, config.seed), torch_module(schema, config.seed)
    target.load_state_dict(net.state_dict())
    obs, nxt = torch.from_numpy(data.obs), torch.from_numpy(data.next_obs)
    act = torch.from_numpy(np.asarray(data.actions, np.int64))
    onward_act = torch.from_numpy(np.asarray(next_actions, np.int64))
    scale = max(1.0, float(np.abs(data.components).max()))
    phi = torch.from_numpy(np.asarray(data.components, np.float32) / scale)
    alive = torch.from_numpy(1.0 - np.asarray(data.terminal, np.float32))

    def loss_of(rows: Any, step: int) -> Any:
        if step % config.target_every == 0:
            target.load_state_dict(net.state_dict())
        with torch.no_grad():
            onward = target(nxt[rows]).view(-1, N_ACTIONS, n_comp)
            onward = onward[torch.arange(len(rows)), onward_act[rows]]
            goal = phi[rows] + config.gamma * alive[rows, None] * onward
        psi = net(obs[rows]).view(-1, N_ACTIONS, n_comp)[torch.arange(len(rows)), act[rows]]
        return ((psi - goal) ** 2).mean()

    loss = _fit(net, loss_of, n, config)
    arrays = arrays_of(net, schema)
    last = len(schema.widths) - 2
    for name in (f"layer{last}.weight", f"layer{last}.bias"):
        arrays[name] = arrays[name] * np.float32(scale)
    return Head(schema, arrays, loss * scale**2)


def fit_behaviour_head(data: Transitions, config: HeadConfig) -> Head:
    """μ(a | o) as logits: a classifier of the recorded actions (cross-entropy)."""
    import torch

    schema = NetworkSchema(data.obs.shape[1], config.hidden, N_ACTIONS)
    net = torch_module(schema, config.seed)
    obs = torch.from_numpy(data.obs)
    act = torch.from_numpy(np.asarray(data.actions, np.int64))

    def loss_of(rows: Any, step: int) -> Any:
        return torch.nn.functional.cross_entropy(net(obs[rows]), act[rows])

    loss = _fit(net, loss_of, len(act), config)
    return Head(schema, arrays_of(net, schema), loss)


def _fit(net: Any, loss_of: Any, n: int, config: HeadConfig) -> float:
    """``config.steps`` Adam steps on minibatches of ``n`` rows drawn from ``config.seed``;
    the mean loss of the last tenth of the steps."""
    import torch

    torch.set_num_threads(config.threads)
    optimiser = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    rng = np.random.default_rng(config.seed)
    tail: list[float] = []
    for step in range(config.steps):
        rows = torch.from_numpy(rng.integers(0, n, size=config.batch_size))
        loss = loss_of(rows, step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step >= config.steps - max(1, config.steps // 10):
            tail.append(float(loss.detach()))
    return float(np.mean(tail))


def supported_by_behaviour(head: Head, obs: np.ndarray, threshold: float) -> np.ndarray:
    """Discrete BCQ's support: ``μ(a|o) / max_a' μ(a'|o) ≥ threshold``, shape ``(n, A)``."""
    logits = head(obs).astype(np.float64)
    return logits - logits.max(axis=1, keepdims=True) >= np.log(threshold)


def exact_successor_features(model: TabularModel, actions: np.ndarray, gamma: float) -> np.ndarray:
    """``ψ^π(s, a)`` of the deterministic policy ``actions`` (one per state) on ``model``,
    discounted by ``gamma`` without a time limit, shape ``(n_states, A, n_components)``."""
    checks.gamma(gamma)
    phi, nxt = model.components, model.next_state
    alive = ~model.terminated
    a = np.asarray(actions, np.int64)
    states = np.arange(model.n_states)
    psi = np.zeros_like(phi)
    k = int(np.ceil(np.log(EXACT_TAIL) / np.log(gamma))) if gamma > 0 else 1
    for _ in range(k):
        on_policy = psi[states, a]  # ψ(s, π(s))
        psi = phi + gamma * alive[..., None] * on_policy[nxt]
    return psi
