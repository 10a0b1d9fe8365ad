"Tests for course_lib.experiments: the grid runner, its checks and its on-disk cache (no torch)."

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from course_lib.agreement import summarise
from course_lib.experiments import cell_key, normalise_configs, run_grid

CONFIGS = {'lr1e-3': dict(lr=1e-3), 'lr3e-3': dict(lr=3e-3, size=48), 'lr1e-2': dict(lr=1e-2)}


class Counter:
    "A train_fn that counts its calls and returns a deterministic fake accuracy."

    def __init__(self):
        self.calls = []

    def __call__(self, n_per_class, seed, lr=1e-3, size=32):
        self.calls.append((n_per_class, seed, lr, size))
        return {'accuracy': float(np.log10(lr) / 10 + n_per_class / 100 + seed / 1000), 'valid_loss': 1.0}


def test_cache_skips_finished_cells(tmp_path):
    fn = Counter()
    df = run_grid(CONFIGS, [5, 20], [0, 1], train_fn=fn, cache_dir=tmp_path, progress=False)
    assert len(fn.calls) == 12 and df.attrs['n_trained'] == 12 and not df.cached.any()
    assert len(list(tmp_path.glob('*.json'))) == 12
    df2 = run_grid(CONFIGS, [5, 20], [0, 1], train_fn=fn, cache_dir=tmp_path, progress=False)
    assert len(fn.calls) == 12, 'a re-run must not train finished cells'
    assert df2.cached.all() and df2.attrs['n_cached'] == 12
    pd.testing.assert_frame_equal(df.drop(columns='cached'), df2.drop(columns='cached'))
    # growing the grid trains only the new cells; renaming a config keeps its cache (key = params, not name)
    more = {'renamed': dict(lr=1e-3), 'lr3e-3': CONFIGS['lr3e-3'], 'lr1e-2': CONFIGS['lr1e-2'], 'lr3e-2': dict(lr=3e-2)}
    df3 = run_grid(more, [5, 20, 50], [0, 1], train_fn=fn, cache_dir=tmp_path, progress=False)
    assert len(fn.calls) == 12 + 4 + 8  # lr3e-2 at rungs 5, 20 (4 cells) + every config at rung 50 (8 cells)
    assert df3[df3.n_per_class < 50].query("config != 'lr3e-2'").cached.all()
    # rerun=True trains again; a different tag is a different cache entry
    run_grid(CONFIGS, [5], [0], train_fn=fn, cache_dir=tmp_path, progress=False, rerun=True)
    run_grid(CONFIGS, [5], [0], train_fn=fn, cache_dir=tmp_path, progress=False, tag='imagewoof')
    assert len(fn.calls) == 24 + 3 + 3


def test_corrupt_cache_file_is_rerun(tmp_path):
    fn = Counter()
    run_grid({'a': dict(lr=1e-3)}, [5], [0], train_fn=fn, cache_dir=tmp_path, progress=False)
    (f,) = tmp_path.glob('*.json')
    f.write_text('{not json')
    with pytest.warns(UserWarning, match='unreadable'):
        df = run_grid({'a': dict(lr=1e-3)}, [5], [0], train_fn=fn, cache_dir=tmp_path, progress=False)
    assert len(fn.calls) == 2 and not df.cached.any()
    assert json.loads(f.read_text())['metrics']['accuracy'] == df.accuracy.iloc[0]


def test_tidy_dataframe(tmp_path):
    df = run_grid(CONFIGS, [5, 20], [0, 1, 2], train_fn=Counter(), cache_dir=tmp_path, progress=False)
    assert len(df) == 3 * 2 * 3
    assert not df.duplicated(['config', 'n_per_class', 'seed']).any()
    for c in ['config', 'n_per_class', 'seed', 'lr', 'size', 'accuracy', 'valid_loss', 'train_time', 'cached', 'key']:
        assert c in df.columns, c
    assert df.config.tolist()[:3] == ['lr1e-3'] * 3 and set(df.n_per_class) == {5, 20} and set(df.seed) == {0, 1, 2}
    assert df.key.is_unique and (df.train_time >= 0).all()
    assert df.loc[df.config == 'lr1e-3', 'size'].isna().all() and (df.loc[df.config == 'lr3e-3', 'size'] == 48).all()
    s = summarise(df)
    assert len(s) == 6 and (s.n_seeds == 3).all()
    expect = df[(df.config == 'lr1e-2') & (df.n_per_class == 20)].accuracy.mean()
    assert np.isclose(s.set_index(['config', 'n_per_class']).loc[('lr1e-2', 20), 'mean'], expect)


def test_list_configs_and_keys():
    cfgs = normalise_configs([dict(lr=1e-3), dict(name='big', lr=1e-2, size=64)])
    assert list(cfgs) == ['lr=0.001', 'big'] and cfgs['big'] == dict(lr=1e-2, size=64)
    assert cell_key(dict(a=1, b=2), 5, 0) == cell_key(dict(b=2, a=1), 5, 0)
    assert (
        len(
            {
                cell_key(dict(a=1), 5, 0),
                cell_key(dict(a=1), 10, 0),
                cell_key(dict(a=1), 5, 1),
                cell_key(dict(a=2), 5, 0),
                cell_key(dict(a=1), 5, 0, tag='woof'),
            }
        )
        == 5
    )


@pytest.mark.parametrize(
    'kw, err, match',
    [
        (dict(configs={}), ValueError, 'Empty grid'),
        (dict(configs=[]), ValueError, 'Empty grid'),
        (dict(ladder=[]), ValueError, 'Empty grid'),
        (dict(seeds=[]), ValueError, 'Empty grid'),
        (dict(configs={'a': dict(lr=1e-3, momentum=0.9)}), ValueError, r"unknown key\(s\) \['momentum'\]"),
        (dict(configs={'a': dict(lr=1e-3, seed=3)}), ValueError, 'reserved'),
        (dict(configs={'a': dict(lr=object())}), TypeError, 'JSON'),
        (dict(ladder=[5, 5]), ValueError, 'duplicates'),
        (dict(ladder=[0]), ValueError, '>= 1'),
        (dict(train_fn=lambda lr: 0.5), TypeError, 'n_per_class'),
    ],
)
def test_bad_grid_input(tmp_path, kw, err, match):
    fn = Counter()
    args = dict(configs=CONFIGS, ladder=[5], seeds=[0], train_fn=fn, cache_dir=tmp_path, progress=False) | kw
    with pytest.raises(err, match=match):
        run_grid(**args)
    assert fn.calls == [], 'bad input must fail before any training'


def test_bad_train_fn_output(tmp_path):
    with pytest.raises(TypeError, match='dict of metrics'):
        run_grid({'a': {}}, [5], [0], train_fn=lambda n_per_class, seed: 'oops', cache_dir=tmp_path, progress=False)
    df = run_grid({'a': {}}, [5], [0], train_fn=lambda n_per_class, seed: 0.25, cache_dir=tmp_path, progress=False)
    assert df.accuracy.tolist() == [0.25]


def test_cache_files_are_written_atomically(tmp_path, monkeypatch):
    "A cell's JSON goes through core.atomic_write: no temporary file is left beside the results."
    import course_lib.experiments as ex

    written = []
    real_write = ex.atomic_write
    monkeypatch.setattr(ex, 'atomic_write', lambda p, data: written.append(p) or real_write(p, data))
    run_grid({'a': dict(lr=1e-3)}, [5, 6], [0], train_fn=Counter(), cache_dir=tmp_path, progress=False)
    assert sorted(written) == sorted(tmp_path.glob('*.json')) and len(written) == 2
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith('.json')] == []


@pytest.mark.parametrize('module', ['course_lib.experiments', 'course_lib.agreement'])
def test_no_torch_import(module):
    "The grid runner and its statistics work without torch: importing them must not import it."
    code = (
        f"import {module}, sys; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)[:5]"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
