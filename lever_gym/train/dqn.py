"""Online DQN over randomised LeverGrid worlds, on the native vector env (torch on use).

``train_dqn`` steps ``LeverGridVectorEnv`` with ``layout_seeds`` (every episode a new layout
from the range) and an observation that shows the layout (``Worlds.obs_mode``), and trains a
double DQN (Huber loss, Adam, a hard-copied target network, ε decayed linearly) with
``gradient_steps`` gradient steps per vector step. Every draw comes from ``DQNConfig.seed``:
the env's resets, ε and the replay samples from numpy generators, the initial weights from a
torch generator; torch runs on ``threads`` threads. The trained network is a
``NetworkSchema`` and named arrays (``lever_gym.train.network``), and ``QNetworkPolicy``
acts with it in numpy.

lever_gym trains here rather than with d3rlpy's online DQN: d3rlpy steps one gymnasium env
at a time (318 env-steps/s measured on this machine, its default 256×256 network), while the
native vector env steps a batch in one compiled call.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import lever_gym.checks as checks
from lever_gym.envs.model import N_ACTIONS
from lever_gym.errors import ConfigError
from lever_gym.objective import Objective
from lever_gym.policy import SB3_UNSET, sb3_answer
from lever_gym.train.network import NetworkSchema, arrays_of, forward, torch_module

MAX_BUFFER_BYTES = 2**31
"""Largest replay buffer a config may ask for (observations of both ends of each step)."""


@dataclass(frozen=True, kw_only=True)
class Worlds:
    """The layouts a neural member trains on and the observation it sees: ``size`` × ``size``
    layouts generated from seeds ``layout_seeds = [lo, hi)``, observed in ``obs_mode``."""

    size: int = 8
    layout_seeds: tuple[int, int] = (0, 200)
    obs_mode: str = "view"
    view_size: int = 7

    def __post_init__(self) -> None:
        """Validate the fields."""
        from lever_gym.envs.layout import check_size
        from lever_gym.envs.random_grid import check_layout_seeds
        from lever_gym.envs.views import check_obs_mode

        object.__setattr__(self, "layout_seeds", check_layout_seeds(self.layout_seeds))
        check_size(self.size)
        mode, _ = check_obs_mode(self.obs_mode, self.view_size)
        if mode == "state":
            raise ConfigError(
                "neural members need an observation that shows the layout: obs_mode 'view' "
                "or 'grid' (the state mode shows only the agent's cell and flags)."
            )

    @property
    def obs_dim(self) -> int:
        """Length of the observation every layout of these worlds gives."""
        from lever_gym.envs.layout import Layout
        from lever_gym.envs.views import observer

        first = Layout.generate(self.size, self.layout_seeds[0])
        return observer(first, self.obs_mode, self.view_size).obs_dim

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the env (single or vector) that draws these worlds."""
        kwargs: dict[str, Any] = {"size": self.size, "layout_seeds": list(self.layout_seeds)}
        if self.obs_mode != "state":
            kwargs |= {"obs_mode": self.obs_mode, "view_size": self.view_size}
        return kwargs

    def covers(self, layout_seed: int) -> bool:
        """Whether generated layout ``layout_seed`` is in the training range."""
        lo, hi = self.layout_seeds
        return lo <= layout_seed < hi

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return {**asdict(self), "layout_seeds": list(self.layout_seeds)}


@dataclass(frozen=True, kw_only=True)
class DQNConfig:
    """A DQN run: its budget of env steps, network, optimiser and exploration."""

    env_steps: int = 400_000
    """Environment steps in total (over all ``n_envs``)."""
    n_envs: int = 16
    hidden: tuple[int, ...] = (128, 128)
    learning_rate: float = 5e-4
    batch_size: int = 128
    gamma: float = 0.99
    buffer_size: int = 100_000
    learning_starts: int = 2_000
    """Steps stored before the first gradient step."""
    gradient_steps: int = 4
    """Gradient steps per vector step (one step of all ``n_envs``)."""
    target_every: int = 500
    """Gradient steps between copies of the online network into the target network."""
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_fraction: float = 0.4
    """Share of the budget over which ε decays from ``epsilon_start`` to ``epsilon_end``."""
    grad_clip: float = 10.0
    threads: int = 1
    seed: int = 0
    worlds: Worlds = field(default_factory=Worlds)

    def __post_init__(self) -> None:
        """Validate the fields, bounding the replay buffer before it is allocated."""
        names = ("env_steps", "n_envs", "batch_size", "buffer_size", "gradient_steps",
                 "target_every")  # fmt: skip
        for name in names:
            checks.positive_int(getattr(self, name), f"dqn {name}")
        checks.non_negative_int(self.learning_starts, "dqn learning_starts")
        checks.int_in(self.threads, "dqn threads", 1, 64)
        checks.seed(self.seed)
        checks.gamma(self.gamma, "dqn gamma")
        for name in ("learning_rate", "grad_clip"):
            checks.real(getattr(self, name), f"dqn {name}", 0.0, 1e6, closed="right")
        for name in ("epsilon_start", "epsilon_end", "epsilon_fraction"):
            checks.real(getattr(self, name), f"dqn {name}", 0.0, 1.0)
        if not isinstance(self.worlds, Worlds):
            raise ConfigError(f"dqn worlds must be a Worlds; got {type(self.worlds).__name__}.")
        NetworkSchema(1, tuple(self.hidden), N_ACTIONS)  # bounds the widths
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def check_buffer(self, obs_dim: int) -> None:
        """Refuse a replay buffer above ``MAX_BUFFER_BYTES`` for observations of ``obs_dim``."""
        need = 2 * self.buffer_size * obs_dim * 4
        if need > MAX_BUFFER_BYTES:
            raise ConfigError(
                f"a replay buffer of {self.buffer_size} steps of {obs_dim} floats takes "
                f"{need / 2**30:.1f} GiB (limit {MAX_BUFFER_BYTES / 2**30:.0f} GiB); lower "
                "buffer_size or the view size."
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form."""
        return {**asdict(self), "hidden": list(self.hidden), "worlds": self.worlds.to_dict()}


@dataclass(frozen=True, eq=False)
class QNetworkPolicy:
    """Greedy policy of a Q-network on observations of its ``Worlds`` (a ``Policy``)."""

    schema: NetworkSchema
    arrays: dict[str, np.ndarray]

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        """Q-values of one observation or a batch (shape ``(..., A)``)."""
        o = np.asarray(obs, dtype=np.float32)
        return forward(self.schema, self.arrays, o.reshape(-1, o.shape[-1])).reshape(
            (*o.shape[:-1], self.schema.output_dim)
        )

    def predict(
        self,
        obs: np.ndarray,
        state: Any = SB3_UNSET,
        episode_start: Any = SB3_UNSET,
        deterministic: Any = SB3_UNSET,
    ) -> Any:
        """Greedy actions (ties to the lowest) of a batch of observations (SB3's
        ``(actions, state)`` when called with its arguments)."""
        actions = np.argmax(self.q_values(obs), axis=-1)
        return sb3_answer(actions, state, episode_start, deterministic)

    def __call__(self, obs: np.ndarray) -> int:
        """Greedy action of one observation."""
        return int(np.argmax(self.q_values(obs)))


@dataclass(frozen=True, eq=False)
class TrainedQ:
    """A DQN run's network, budget, time and learning curve (mean return of the episodes
    that ended in each tenth of the run)."""

    policy: QNetworkPolicy
    env_steps: int
    updates: int
    seconds: float
    curve: tuple[float, ...]


class _Replay:
    """A ring buffer of transitions in preallocated arrays."""

    def __init__(self, size: int, obs_dim: int) -> None:
        self.obs = np.zeros((size, obs_dim), np.float32)
        self.next_obs = np.zeros((size, obs_dim), np.float32)
        self.actions = np.zeros(size, np.int64)
        self.rewards = np.zeros(size, np.float32)
        self.terminal = np.zeros(size, np.float32)
        self.size, self.count, self.head = size, 0, 0

    def add(
        self, obs: np.ndarray, a: np.ndarray, r: np.ndarray, nxt: np.ndarray, term: np.ndarray
    ) -> None:
        rows = (self.head + np.arange(len(a))) % self.size
        self.obs[rows], self.next_obs[rows], self.actions[rows] = obs, nxt, a
        self.rewards[rows], self.terminal[rows] = r, term
        self.head = int((self.head + len(a)) % self.size)
        self.count = min(self.count + len(a), self.size)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        i = rng.integers(0, self.count, size=n)
        return self.obs[i], self.actions[i], self.rewards[i], self.next_obs[i], self.terminal[i]


def train_dqn(objective: Objective | str, config: DQNConfig | None = None) -> TrainedQ:
    """Train a Q-network for ``objective`` over ``config.worlds`` (module docstring)."""
    import torch

    from lever_gym.envs.vector import LeverGridVectorEnv

    config = DQNConfig() if config is None else config
    objective = Objective.parse(objective)
    torch.set_num_threads(config.threads)
    start = time.perf_counter()
    env = LeverGridVectorEnv(
        config.n_envs, weights=list(objective.weights), **config.worlds.env_kwargs()
    )
    obs_dim = int(np.prod(env.single_observation_space.shape or (0,)))
    config.check_buffer(obs_dim)
    schema = NetworkSchema(obs_dim, config.hidden, N_ACTIONS)
    online, target = torch_module(schema, config.seed), torch_module(schema, config.seed)
    target.load_state_dict(online.state_dict())
    optimiser = torch.optim.Adam(online.parameters(), lr=config.learning_rate)
    replay = _Replay(config.buffer_size, obs_dim)
    explore, draws = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(2)
    )

    n_iters = max(1, config.env_steps // config.n_envs)
    decay = max(1.0, config.epsilon_fraction * n_iters)
    obs, _ = env.reset(seed=config.seed)
    after_end = np.zeros(config.n_envs, dtype=bool)
    returns = np.zeros(config.n_envs)
    ended: list[list[float]] = [[] for _ in range(10)]
    updates = 0
    for it in range(n_iters):
        eps = config.epsilon_start + (config.epsilon_end - config.epsilon_start) * min(
            1.0, it / decay
        )
        with torch.no_grad():
            actions = online(torch.from_numpy(obs)).argmax(dim=1).numpy()
        wild = explore.random(config.n_envs) < eps
        actions = np.where(wild, explore.integers(0, N_ACTIONS, config.n_envs), actions)
        nxt, reward, term, trunc, _ = env.step(actions)
        keep = ~after_end  # the step after an episode ends only resets that env
        replay.add(obs[keep], actions[keep], reward[keep], nxt[keep], term[keep])
        returns += np.where(keep, reward, 0.0)
        done = (term | trunc) & keep
        ended[it * 10 // n_iters].extend(returns[done].tolist())
        returns[done] = 0.0
        after_end, obs = done, nxt
        if replay.count >= max(config.learning_starts, config.batch_size):
            for _ in range(config.gradient_steps):
                batch = replay.sample(draws, config.batch_size)
                _update(online, target, optimiser, batch, config)
                updates += 1
                if updates % config.target_every == 0:
                    target.load_state_dict(online.state_dict())
    env.close()
    curve = tuple(float(np.mean(r)) if r else float("nan") for r in ended)
    policy = QNetworkPolicy(schema, arrays_of(online, schema))
    return TrainedQ(policy, n_iters * config.n_envs, updates, time.perf_counter() - start, curve)


def _update(
    online: Any, target: Any, optimiser: Any, batch: tuple[np.ndarray, ...], config: DQNConfig
) -> None:
    """One double-DQN gradient step on ``batch``."""
    import torch

    obs, actions, rewards, nxt, terminal = (torch.from_numpy(b) for b in batch)
    with torch.no_grad():
        best = online(nxt).argmax(dim=1, keepdim=True)
        onward = target(nxt).gather(1, best).squeeze(1)
        goal = rewards + config.gamma * (1.0 - terminal) * onward
    q = online(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
    loss = torch.nn.functional.smooth_l1_loss(q, goal)
    optimiser.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(online.parameters(), config.grad_clip)
    optimiser.step()
