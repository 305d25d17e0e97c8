"""Settings every test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def own_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A state directory of the test session's own. A developer's ``.mlscale/`` (README command
    1 leaves one, with the result token its dispatcher was given) made the load tester demand that
    token from dispatchers the tests start without it: every outcome was refused with 401."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MLSCALE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    yield
    patch.undo()
