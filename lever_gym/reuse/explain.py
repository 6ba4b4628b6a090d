"""The explanation of a composed policy: what was retrieved, scored and chosen, and why.

``Explanation`` is what ``LeverComposedPolicy.explain()`` returns as JSON-plain data
(``to_dict``) and what the benchmark reads by attribute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lever_gym.reuse.decompose import Part


@dataclass(frozen=True)
class Combination:
    """One scored combination: one candidate per part, at one library γ."""

    parts: str
    gamma: float | None
    """``None`` when the combination draws on several library γ (``gpi``'s pool)."""
    policies: tuple[str, ...]
    rollout_return: float
    """Mean offline rollout return over the scoring starts."""
    rollout_inside: float
    """Fraction of those rollouts that ended inside the recorded data."""
    predicted_return: float | None = None
    """The embedding predictor's estimate (with ``scoring="predictor"``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form (``predicted_return`` only when computed)."""
        out = asdict(self)
        out["policies"] = list(self.policies)
        if self.predicted_return is None:
            del out["predicted_return"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Combination:
        """Inverse of ``to_dict``."""
        return cls(**{**data, "policies": tuple(data["policies"])})


@dataclass(frozen=True)
class Coverage:
    """How much of the chosen policy's offline rollout from the layout's start the data holds."""

    start_rollout_steps: int
    start_rollout_inside_data: bool

    @property
    def start_rollout_coverage(self) -> float:
        """Recorded steps over steps taken (an unrecorded step counts as one taken)."""
        steps, inside = self.start_rollout_steps, self.start_rollout_inside_data
        if steps == 0 and inside:
            return 1.0
        return steps / (steps + (0 if inside else 1))


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Seconds spent per stage of ``from_library``."""

    retrieval: float
    scoring: float
    composition: float


@dataclass(frozen=True)
class Explanation:
    """Everything ``from_library`` decided, in order."""

    objective: str
    weights: tuple[float, ...]
    size: int
    layout_seed: int
    parts: tuple[Part, ...]
    splits_considered: tuple[str, ...]
    config: dict[str, Any]
    """The ``ReuseConfig`` it was built with (``to_dict``): ``from_library`` with
    ``ReuseConfig.from_dict`` of it builds the same policy."""
    candidates: dict[str, list[tuple[str, float]]]
    """Per ``"<block> gamma <γ>"``, the retrieved policy ids and index scores, best first."""
    combinations: tuple[Combination, ...]
    chosen: Combination
    coverage: Coverage
    seconds: Timings
    guard: dict[str, Any] | None = None
    """With ``guarded``: the composition's score, the best member acting alone and its score."""
    improvement: dict[str, Any] | None = None
    """With ``improve``: rounds, states changed, the start's value before and after, the plan
    kept and every plan's return on the data."""
    bounds: dict[str, Any] | None = None
    """Lower and upper bounds on the policy's true return within the horizon from the
    layout's start, from the recorded data alone (``mdp.contract.value_bounds``): equal when
    its walk from the start stays in the data."""
    time_aware: dict[str, Any] | None = None
    """With ``improve.contract="time-aware"``: the start's value (the whole horizon left) on
    the members' data before and after time-indexed policy iteration."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-plain form (what ``explain()`` returns and saved policies store)."""
        return {
            "objective": self.objective,
            "weights": list(self.weights),
            "size": self.size,
            "layout_seed": self.layout_seed,
            "parts": [{"objective": p.objective, "weight": p.weight} for p in self.parts],
            "splits_considered": list(self.splits_considered),
            "config": self.config,
            "candidates": {key: [[pid, s] for pid, s in c] for key, c in self.candidates.items()},
            "combinations": [c.to_dict() for c in self.combinations],
            "chosen": self.chosen.to_dict(),
            "coverage": {
                **asdict(self.coverage),
                "start_rollout_coverage": self.coverage.start_rollout_coverage,
            },
            "seconds": asdict(self.seconds),
            "guard": self.guard,
            "improvement": self.improvement,
            "bounds": self.bounds,
            "time_aware": self.time_aware,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Explanation:
        """Inverse of ``to_dict``."""
        coverage = {k: v for k, v in data["coverage"].items() if k != "start_rollout_coverage"}
        return cls(
            objective=data["objective"],
            weights=tuple(data["weights"]),
            size=data["size"],
            layout_seed=data["layout_seed"],
            parts=tuple(Part(p["objective"], p["weight"]) for p in data["parts"]),
            splits_considered=tuple(data["splits_considered"]),
            config=dict(data["config"]),
            candidates={key: [(pid, s) for pid, s in c] for key, c in data["candidates"].items()},
            combinations=tuple(Combination.from_dict(c) for c in data["combinations"]),
            chosen=Combination.from_dict(data["chosen"]),
            coverage=Coverage(**coverage),
            seconds=Timings(**data["seconds"]),
            guard=data.get("guard"),
            improvement=data.get("improvement"),
            bounds=data.get("bounds"),
            time_aware=data.get("time_aware"),
        )

    def summary(self) -> str:
        """A few lines for people: first what the policy is worth (its return on the data
        from the start, and its bounds), then how it was built; at most ``SHOWN`` members."""
        chosen, sec = self.chosen, self.seconds
        retrieval, compose = self.config["retrieval"], self.config["compose"]
        head = f"{self.objective_label} on {self.size}x{self.size} layout {self.layout_seed}"
        if self.bounds is not None:
            low, high = self.bounds["lower"], self.bounds["upper"]
            head += (f": return from the start {low:.2f} (known from the data)" if low == high
                     else f": return from the start in [{low:.2f}, {high:.2f}] (bounds from "
                     "the data)")  # fmt: skip
        lines = [
            head,
            f"  {compose['operator']} over {len(chosen.policies)} polic"
            f"{'y' if len(chosen.policies) == 1 else 'ies'} (parts "
            f"{' + '.join(p.objective for p in self.parts)}; strategy {retrieval['strategy']}, "
            f"k={retrieval['k']}, scoring {self.config['scoring']['scoring']}, support mode "
            f"{compose['support_mode']}; {len(self.combinations)} combination(s) scored, "
            f"{'every gamma' if chosen.gamma is None else f'gamma {chosen.gamma:g}'}); "
            f"composed, it returned {chosen.rollout_return:.2f} on the data over the scoring "
            f"starts, {100 * chosen.rollout_inside:.0f}% of its rollouts inside the data:",
            *[f"    {pid}" for pid in chosen.policies[:SHOWN]],
        ]
        if len(chosen.policies) > SHOWN:
            lines.append(f"    ... and {len(chosen.policies) - SHOWN} more (explain()['chosen'])")
        if chosen.predicted_return is not None:
            lines.append(f"  predicted return (embedding predictor): {chosen.predicted_return:.2f}")
        if self.improvement is not None:
            imp = self.improvement
            lines.append(
                f"  improved by {imp['steps']} round(s) of policy iteration on the data "
                f"({imp.get('plan', 'finite-horizon')} plan): {imp['changed_states']} state(s) "
                f"changed, start value {imp['start_value_before']:.2f} -> "
                f"{imp['start_value_after']:.2f}"
            )
        timed = self.time_aware
        if timed is not None:
            lines.append(
                f"  time-aware: time-indexed policy iteration on the data, start value "
                f"{timed['start_value_before']:.2f} -> "
                f"{timed['start_value_after']:.2f} (observations carry the elapsed steps)"
            )
        if self.guard is not None and self.guard.get("best_member") is not None:
            lines.append(
                f"  the guard acts as {self.guard['best_member']} (it scores higher alone)"
            )
        lines += [
            f"  coverage of its rollout from the start: "
            f"{100 * self.coverage.start_rollout_coverage:.0f}% "
            f"({self.coverage.start_rollout_steps} recorded steps)",
            f"  time: retrieval {1e3 * sec.retrieval:.1f} ms, scoring {1e3 * sec.scoring:.1f} ms, "
            f"composition {1e3 * sec.composition:.1f} ms",
        ]
        return "\n".join(lines)

    @property
    def objective_label(self) -> str:
        """The objective's name if its weights are 0 and 1, else its weights (a weighted
        objective is not the 0/1 objective of its active components)."""
        if all(w in (0.0, 1.0) for w in self.weights):
            return self.objective
        return "weights (" + ", ".join(f"{w:g}" for w in self.weights) + ")"


SHOWN = 5
"""Members ``summary`` lists (``explain()`` has them all)."""
