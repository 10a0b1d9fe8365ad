"""Shared fixtures: the real-image mirror (../shared/data beside the repository) and isolated settings."""
import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get('COURSE_DATA_MIRROR', '').split(os.pathsep)[0] or REPO.parent/'shared'/'data').resolve()


@pytest.fixture(scope='session')
def mirror() -> Path:
    if not (MIRROR/'imagenette'/'train').is_dir():
        pytest.fail(f"The real-image mirror is missing: expected {MIRROR}/imagenette (../shared/data beside the repo, "
                    "or COURSE_DATA_MIRROR).")
    return MIRROR


@pytest.fixture
def tiny_settings(tmp_path, mirror):
    "Settings at tiny scale with the real mirror and a private cache folder."
    from course_lib.core import load_settings
    env = {'COURSE_SCALE': 'tiny', 'COURSE_DATA_MIRROR': str(mirror), 'COURSE_CACHE': str(tmp_path/'cache')}
    return load_settings(env=env)
