"""Shared fixtures: the real-image mirror (../shared/data beside the repository) and isolated settings."""

import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(
    os.environ.get('COURSE_DATA_MIRROR', '').split(os.pathsep)[0] or REPO.parent / 'shared' / 'data'
).resolve()


TOP = 'imagenette2-mini'  # the top folder of the small test archive
CHUNK = 8 * 1024  # download chunk size in tests: the archive spans several


@pytest.fixture(scope='session')
def archive(tmp_path_factory):
    "A .tgz in the official layout with real Imagenette photos: (path, bytes, sha256, member image names)."
    import hashlib
    import tarfile
    from types import SimpleNamespace

    src = MIRROR / 'imagenette'
    if not (src / 'train').is_dir():
        pytest.fail(f"The data mirror is missing: expected real images under {src} (see ../shared/data/README.md).")
    names = []
    path = tmp_path_factory.mktemp('archive') / f'{TOP}.tgz'
    with tarfile.open(path, 'w:gz') as t:
        for split, n in [('train', 3), ('val', 1)]:
            for wnid in sorted(p.name for p in (src / split).iterdir())[:2]:
                for p in sorted((src / split / wnid).glob('*.JPEG'))[:n]:
                    arc = f'{TOP}/{split}/{wnid}/{p.name}'
                    t.add(p, arcname=arc)
                    names.append(arc)
    data = path.read_bytes()
    assert len(data) > 8 * CHUNK, 'the test archive should span several chunks'
    return SimpleNamespace(path=path, data=data, sha=hashlib.sha256(data).hexdigest(), names=names)


@pytest.fixture(scope='session')
def mirror() -> Path:
    if not (MIRROR / 'imagenette' / 'train').is_dir():
        pytest.fail(
            f"The real-image mirror is missing: expected {MIRROR}/imagenette (../shared/data beside the repo, "
            "or COURSE_DATA_MIRROR)."
        )
    return MIRROR


@pytest.fixture
def tiny_settings(tmp_path, mirror):
    "Settings at tiny scale with the real mirror and a private cache folder."
    from course_lib.core import load_settings

    env = {'COURSE_SCALE': 'tiny', 'COURSE_DATA_MIRROR': str(mirror), 'COURSE_CACHE': str(tmp_path / 'cache')}
    return load_settings(env=env)


def pytest_collection_modifyitems(config, items):
    "Skip `gpu` tests without CUDA (they are for the GPU machine), and `browser` tests without Chromium."
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    has_browser = _has_browser()
    require_browser = os.environ.get('COURSE_REQUIRE_BROWSER') == '1'  # CI: fail in setup (below), never skip
    for item in items:
        if 'gpu' in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason='needs a CUDA GPU'))
        if 'browser' in item.keywords and not has_browser and not require_browser:
            item.add_marker(pytest.mark.skip(reason='needs chromium and chromium-driver (apt-get install)'))


def _has_browser() -> bool:
    import shutil

    return bool(shutil.which('chromium') and shutil.which('chromedriver'))


def pytest_runtest_setup(item):
    "Under COURSE_REQUIRE_BROWSER=1 (CI) a `browser` test without Chromium or chromedriver fails instead of skipping."
    if 'browser' in item.keywords and os.environ.get('COURSE_REQUIRE_BROWSER') == '1' and not _has_browser():
        pytest.fail(
            "COURSE_REQUIRE_BROWSER=1 but `chromium` or `chromedriver` is not on PATH: apt-get install chromium chromium-driver"
        )
