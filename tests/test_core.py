import pytest
from course_lib.core import (
    load_settings,
    resolve_scale,
    CourseConfigError,
    find_settings_file,
    course_setup,
    seed_everything,
    seeded_generator,
    SCALE_PRESETS,
    GRADING_DEFAULTS,
)
from conftest import REPO


def test_settings_file_is_found_and_read():
    f = find_settings_file(REPO / 'nbs')
    assert f == REPO / 'settings.ini'
    s = load_settings(env={'COURSE_SCALE': 'small'}, check_cache=False)
    assert s.scale == 'small' and s.preset.image_size == 96 and s.grading['cell_timeout'] > 0


def test_env_overrides_and_presets(tmp_path, mirror):
    s = load_settings(
        env={'COURSE_SCALE': 'tiny', 'COURSE_DATA_MIRROR': str(mirror), 'COURSE_CACHE': str(tmp_path / 'c')}
    )
    assert s.scale == 'tiny' and s.mirrors == [mirror] and s.cache_dir == tmp_path / 'c' and (tmp_path / 'c').is_dir()
    assert (
        s.preset.n_train_per_class
        < load_settings(env={'COURSE_SCALE': 'small'}, check_cache=False).preset.n_train_per_class
    )


def test_auto_scale_follows_cuda():
    assert resolve_scale('auto', cuda_available=True) == 'full'
    assert resolve_scale('auto', cuda_available=False) == 'small'


@pytest.mark.parametrize(
    'env,msg',
    [
        ({'COURSE_SCALE': 'medium'}, "Unknown scale 'medium'"),
        ({'COURSE_DATA_MIRROR': '/no/such/mirror'}, "does not exist"),
    ],
)
def test_bad_settings_give_clear_errors(env, msg):
    with pytest.raises(CourseConfigError, match=msg):
        load_settings(env=env, check_cache=False)


def test_unwritable_cache_is_a_clear_error(tmp_path):
    f = tmp_path / 'file'
    f.write_text('x')
    with pytest.raises(CourseConfigError, match='not a writable folder'):
        load_settings(env={'COURSE_CACHE': str(f / 'sub')})


def test_bad_ini_values(tmp_path):
    ini = tmp_path / 'settings.ini'
    ini.write_text('[course]\nscale = tiny\nseed = forty\n')
    with pytest.raises(CourseConfigError, match="seed = 'forty' is not a whole number"):
        load_settings(ini, env={}, check_cache=False)
    ini.write_text('[course\nscale')
    with pytest.raises(CourseConfigError, match='not valid INI'):
        load_settings(ini, env={}, check_cache=False)


def test_course_setup_prints_scale(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv('COURSE_CACHE', str(tmp_path))
    s = course_setup(scale='tiny')
    out = capsys.readouterr().out
    assert 'course_lib scale: tiny' in out and 'device:' in out and s.scale == 'tiny'
    assert 'epochs' not in out  # epochs are each experiment's own choice, not a scale setting


def test_seed_everything_is_repeatable():
    import torch

    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    b = torch.randn(5)
    assert torch.equal(a, b)


def test_presets_and_limits_have_one_source(tmp_path):
    "The package's tables are the defaults; settings.ini overrides key by key and reports keys nobody reads."
    bare = tmp_path / 'bare.ini'
    bare.write_text('[course]\nscale = small\n')
    s = load_settings(bare, env={}, check_cache=False)
    assert s.preset == SCALE_PRESETS['small'] and s.grading == dict(GRADING_DEFAULTS)
    ini = tmp_path / 'settings.ini'
    ini.write_text('[course]\nscale = tiny\n[scale.tiny]\nbatch_size = 8\nepochs = 3\n[grading]\nmemory_mb = 512\n')
    s = load_settings(ini, env={}, check_cache=False)
    assert s.preset.batch_size == 8 and s.preset.image_size == SCALE_PRESETS['tiny'].image_size
    assert s.grading['memory_mb'] == 512 and s.grading['jobs'] == GRADING_DEFAULTS['jobs']
    assert any('[scale.tiny] epochs is not a setting' in n for n in s.notes)
    with pytest.raises(TypeError):
        GRADING_DEFAULTS['jobs'] = 99  # read-only: the one source cannot be changed by accident


def test_readme_scale_table_agrees_with_the_presets():
    import re

    rows = {
        m[0]: m[1]
        for m in re.findall(r'^\| `(tiny|small|full)` \|[^|]*\|([^|]*)\|', (REPO / 'README.md').read_text(), re.M)
    }
    assert set(rows) == {'tiny', 'small', 'full'}, rows
    for name, cell in rows.items():
        p = SCALE_PRESETS[name]
        assert f'{p.image_size} px' in cell, (name, cell)
        if p.n_train_per_class:
            assert re.search(rf'\b{p.n_train_per_class}\b.*\b{p.n_valid_per_class}\b', cell), (name, cell)


def test_importing_core_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, course_lib.core; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, '-c', code], check=True)


def test_seeded_generator_takes_pairs_not_sums():
    import torch

    def draw(*key):
        return torch.randperm(20, generator=seeded_generator(*key)).tolist()

    assert draw(4, 2) == draw(4, 2) and draw(0, 1) != draw(1, 0) and draw(0, 1) != draw(0, 2)
