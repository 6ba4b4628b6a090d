"""The fuzz suite, CI-sized: no input escapes the error family, is silently accepted, runs
code or reads outside a library. ``python benchmarks/fuzz.py --profile full`` runs it at
over 10^4 inputs and writes the table of ``docs/reliability.md``."""

from __future__ import annotations

import pytest
from hypothesis import Phase, given, settings

from tests.fuzz.registry import QUIET, TARGETS


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_every_fuzzed_input_is_accepted_or_refused_cleanly(name):
    target = TARGETS[name]

    @settings(
        QUIET, max_examples=target.ci, derandomize=True, phases=[Phase.generate, Phase.shrink]
    )
    @given(target.strategy)
    def check(x):
        outcome = target.feed(x)
        assert outcome.ok, f"{outcome.label}: {outcome.detail}"

    check()


def test_the_detectors_detect(tmp_path):
    """The harness sees a read outside and a command run: Minari alone opens the malicious
    metadata by running its command, where ``open_dataset`` refuses it."""
    import minari

    from lever_gym.data.storage import open_dataset
    from lever_gym.errors import LibraryError
    from tests.data.test_storage import malicious_metadata
    from tests.fuzz.library import fuzz_library
    from tests.fuzz.outcome import OutsideReads
    from tests.library.tamper import copy_library

    (tmp_path / "secret").write_text("x")
    reads = OutsideReads.get()
    reads.watch(tmp_path / "secret")
    (tmp_path / "secret").read_text()
    assert reads.stop() == [str((tmp_path / "secret").resolve())]
    root = copy_library(fuzz_library().root, tmp_path / "lib")
    folder = root / fuzz_library().records[0].directory
    marker = tmp_path / "ran"
    malicious_metadata(folder, marker)
    with pytest.raises(LibraryError):
        open_dataset(folder / "data")
    assert not marker.exists()
    with pytest.raises(TypeError, match=r"must inherit from the gymnasium\.Env"):
        minari.MinariDataset(folder / "data")  # what lever_gym did: the command runs first
    assert marker.exists()
