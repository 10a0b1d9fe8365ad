import pytest
from course_lib.core import (
    load_settings,
    resolve_scale,
    CourseConfigError,
    find_settings_file,
    course_setup,
    seed_everything,
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


def test_seed_everything_is_repeatable():
    import torch

    seed_everything(3)
    a = torch.randn(5)
    seed_everything(3)
    b = torch.randn(5)
    assert torch.equal(a, b)
