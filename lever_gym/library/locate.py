"""Where the default library is: one resolution order, the same for code and command line.

1. a path given explicitly (argument or ``--library``);
2. ``$LEVER_GYM_LIBRARY``;
3. the user data folder (``platformdirs.user_data_path("lever-gym") / "library"``), where
   ``lever-gym library install-default`` puts it, if it holds a library;
4. ``datasets/`` of a source checkout (beside the package), if it holds a library.

The default neural library (DQN members) resolves the same way: ``$LEVER_GYM_NEURAL_LIBRARY``,
the user data folder's ``neural-library``, then ``datasets-neural/`` of a checkout.

The working directory plays no part.
"""

from __future__ import annotations

import os
from pathlib import Path

from lever_gym.errors import ConfigError, LibraryError
from lever_gym.library.format.manifest import MANIFEST

ENV_VAR = "LEVER_GYM_LIBRARY"
NEURAL_ENV_VAR = "LEVER_GYM_NEURAL_LIBRARY"
NEURAL_MANIFEST = "manifest.json"


def user_library() -> Path:
    """The user data folder of the default library (whether it exists or not)."""
    import platformdirs

    return platformdirs.user_data_path("lever-gym") / "library"


def checkout_library() -> Path:
    """``datasets/`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "datasets"


def default_library() -> Path:
    """The default library's folder by the resolution order (the env var wins even if the
    folder is missing, so a typo is reported, not silently skipped)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    for candidate in (user_library(), checkout_library()):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise LibraryError(
        f"no default library: ${ENV_VAR} is not set, and neither {user_library()} nor "
        f"{checkout_library()} holds one. Run `lever-gym library install-default` (it rebuilds "
        "the default library into the user data folder, no download), or pass a library path."
    )


def resolve(path: str | os.PathLike[str] | None) -> Path:
    """``path`` if given, else the default library."""
    if path is None:
        return default_library()
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"a library path must be a str or a path; got {type(path).__name__}.")
    try:
        return Path(path).expanduser()
    except RuntimeError as e:  # "~user" for a user that does not exist
        raise LibraryError(f"cannot read the library path {path!r} ({e}).") from e


def user_neural_library() -> Path:
    """The user data folder of the default neural library (whether it exists or not)."""
    import platformdirs

    return platformdirs.user_data_path("lever-gym") / "neural-library"


def checkout_neural_library() -> Path:
    """``datasets-neural/`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[2] / "datasets-neural"


def default_neural_library() -> Path:
    """The default neural library's folder, in the same order as the tabular one:
    ``$LEVER_GYM_NEURAL_LIBRARY``, the user data folder, ``datasets-neural/`` of a checkout."""
    if os.environ.get(NEURAL_ENV_VAR):
        return Path(os.environ[NEURAL_ENV_VAR]).expanduser()
    for candidate in (user_neural_library(), checkout_neural_library()):
        if (candidate / NEURAL_MANIFEST).is_file():
            return candidate
    raise LibraryError(
        f"no default neural library: ${NEURAL_ENV_VAR} is not set, and neither "
        f"{user_neural_library()} nor {checkout_neural_library()} holds one. Run `lever-gym "
        "library install-default --members dqn` (it rebuilds it, no download), or pass a path."
    )
