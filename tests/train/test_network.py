"""Networks as a schema and named float32 arrays: numpy forward = torch forward, checked."""

from __future__ import annotations

import numpy as np
import pytest

from lever_gym.errors import ConfigError, LibraryError
from lever_gym.train.network import (
    NetworkSchema,
    arrays_of,
    check_arrays,
    forward,
    load_into,
    torch_module,
)


def test_the_numpy_forward_is_the_torch_forward() -> None:
    import torch

    schema = NetworkSchema(12, (16, 8), 4)
    module = torch_module(schema, seed=3)
    arrays = arrays_of(module, schema)
    x = np.random.default_rng(0).normal(size=(32, 12)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert np.allclose(forward(schema, arrays, x), expected, atol=1e-5)
    fresh = torch_module(schema, seed=4)
    load_into(fresh, arrays)
    assert all(np.array_equal(a, arrays_of(fresh, schema)[k]) for k, a in arrays.items())


def test_the_same_seed_gives_the_same_weights() -> None:
    schema = NetworkSchema(5, (7,), 2)
    a, b = (arrays_of(torch_module(schema, 11), schema) for _ in range(2))
    c = arrays_of(torch_module(schema, 12), schema)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["layer0.weight"], c["layer0.weight"])


def test_schemas_round_trip_and_bound_their_sizes() -> None:
    schema = NetworkSchema(295, (128, 128), 16)
    assert NetworkSchema.from_dict(schema.to_dict()) == schema
    assert schema.n_parameters == 295 * 128 + 128 + 128 * 128 + 128 + 128 * 16 + 16
    with pytest.raises(ConfigError, match="hidden width"):
        NetworkSchema(4, (2**30,), 4)
    with pytest.raises(LibraryError):
        NetworkSchema.from_dict({"input_dim": 4, "hidden": "big", "output_dim": 4})


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda a: a.pop("layer1.bias"), "schema names"),
        (lambda a: a.update({"layer0.weight": np.zeros((3, 3), np.float32)}), "shape"),
        (lambda a: a.update({"layer0.bias": np.zeros(8, np.float64)}), "float32"),
        (lambda a: a["layer1.weight"].__setitem__((0, 0), np.nan), "finite"),
    ],
)
def test_arrays_other_than_the_schema_are_refused(change, match: str) -> None:
    schema = NetworkSchema(4, (8,), 2)
    arrays = {k: np.array(v) for k, v in arrays_of(torch_module(schema, 0), schema).items()}
    change(arrays)
    with pytest.raises(LibraryError, match=match):
        check_arrays(schema, arrays, "test")


def test_inputs_of_the_wrong_width_are_refused() -> None:
    schema = NetworkSchema(4, (8,), 2)
    arrays = arrays_of(torch_module(schema, 0), schema)
    with pytest.raises(ConfigError, match=r"\(n, 4\)"):
        forward(schema, arrays, np.zeros((3, 5), np.float32))
