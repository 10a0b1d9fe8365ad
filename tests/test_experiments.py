"Tests for course_lib.experiments: grid runner, result cache, agreement statistics; one real-image run."

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course_lib.experiments import (
    run_grid,
    cell_key,
    normalise_configs,
    summarise,
    seed_noise,
    rank_agreement,
    agreement_ladder,
)

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


def grid(small_means, large_means, noise=0.0, seeds=(0, 1), small=5, large=50, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        [
            dict(config=f'c{i}', n_per_class=n, seed=s, accuracy=m + noise * rng.normal())
            for n, ms in ((small, small_means), (large, large_means))
            for i, m in enumerate(ms)
            for s in seeds
        ]
    )


UP = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


@pytest.mark.parametrize('resample', ['seeds', 'configs', 'both'])
def test_perfect_and_reversed(resample):
    same = rank_agreement(grid(UP, UP), 5, 50, resample=resample, n_boot=300)
    rev = rank_agreement(grid(UP, UP[::-1]), 5, 50, resample=resample, n_boot=300)
    assert np.isclose(same.spearman, 1) and np.isclose(same.kendall, 1) and same.same_best and same.regret == 0
    assert np.isclose(rev.spearman, -1) and np.isclose(rev.kendall, -1) and not rev.same_best
    assert np.isclose(rev.regret, 0.5)
    assert np.isclose(same.spearman_lo, 1) and np.isclose(rev.kendall_hi, -1)  # no noise: the interval collapses


def test_matches_scipy_and_bootstrap_is_seeded():
    df = grid(UP, [0.3, 0.1, 0.2, 0.6, 0.4, 0.5], noise=0.05, seeds=(0, 1, 2))
    m = df.groupby(['n_per_class', 'config']).accuracy.mean()
    ref_r, ref_t = stats.spearmanr(m[5], m[50]), stats.kendalltau(m[5], m[50])
    for resample in ['seeds', 'configs', 'both']:
        r = rank_agreement(df, 5, 50, seed=7, resample=resample, n_boot=1000)
        assert np.isclose(r.spearman, ref_r.statistic) and np.isclose(r.kendall, ref_t.statistic)
        assert np.isclose(r.spearman_p, ref_r.pvalue) and np.isclose(r.kendall_p, ref_t.pvalue)
        if resample == 'configs':  # the default; resampling seeds attenuates rho, so its interval may sit below it
            assert r.spearman_lo <= r.spearman <= r.spearman_hi and r.kendall_lo <= r.kendall <= r.kendall_hi
        assert -1 <= r.spearman_lo < r.spearman_hi <= 1 and -1 <= r.kendall_lo < r.kendall_hi <= 1
        assert r.n_boot_valid == 1000
        pd.testing.assert_series_equal(r, rank_agreement(df, 5, 50, seed=7, resample=resample, n_boot=1000))
    # a wider confidence level gives a wider interval
    r90, r99 = (rank_agreement(df, 5, 50, seed=7, confidence=c) for c in (0.9, 0.99))

    # the configs interval is scipy.stats.bootstrap's own percentile interval, same generator seed
    def rho(x, y, axis=-1):
        if x.ndim == 1:
            return stats.spearmanr(x, y).statistic
        return np.array([stats.spearmanr(a, b).statistic for a, b in zip(x, y)])

    res = stats.bootstrap(
        (m[5].to_numpy(), m[50].to_numpy()),
        rho,
        paired=True,
        vectorized=True,
        n_resamples=1000,
        method='percentile',
        random_state=np.random.default_rng(7),
    )
    r = rank_agreement(df, 5, 50, seed=7, n_boot=1000)
    assert np.allclose([r.spearman_lo, r.spearman_hi], [res.confidence_interval.low, res.confidence_interval.high])
    assert r99.spearman_lo <= r90.spearman_lo and r99.spearman_hi >= r90.spearman_hi


def test_bootstrap_statistics_match_scipy_with_ties():
    from course_lib.experiments import _spearman_rows, _kendall_rows

    X = np.random.default_rng(0).integers(0, 4, (200, 6)).astype(float)
    Y = np.random.default_rng(1).integers(0, 4, (200, 6)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = np.array([stats.spearmanr(x, y).statistic for x, y in zip(X, Y)])
        t = np.array([stats.kendalltau(x, y).statistic for x, y in zip(X, Y)])
    assert np.allclose(_spearman_rows(X, Y), r, equal_nan=True) and np.allclose(_kendall_rows(X, Y), t, equal_nan=True)


def test_agreement_bad_input():
    with pytest.raises(ValueError, match='at least 3 configs'):
        rank_agreement(grid([0.1], [0.2]), 5, 50)
    with pytest.raises(ValueError, match='at least 3 configs'):
        rank_agreement(grid([0.1, 0.2], [0.2, 0.1]), 5, 50)
    with pytest.raises(ValueError, match='Empty'):
        rank_agreement(pd.DataFrame(), 5, 50)
    with pytest.raises(ValueError, match='No results at n_per_class=7'):
        rank_agreement(grid(UP, UP), 7, 50)
    with pytest.raises(KeyError, match='top5'):
        rank_agreement(grid(UP, UP), 5, 50, metric='top5')
    with pytest.raises(ValueError, match='Incomplete grid'):
        rank_agreement(grid(UP, UP).iloc[1:], 5, 50)
    with pytest.raises(ValueError, match='resample'):
        rank_agreement(grid(UP, UP), 5, 50, resample='rows')
    with pytest.raises(ValueError, match='2 seeds'):
        seed_noise(grid(UP, UP, seeds=(0,)))
    with pytest.raises(ValueError, match='2 rungs'):
        agreement_ladder(grid(UP, UP, large=5))


def test_seed_noise_and_ladder():
    df = pd.concat(
        [grid(UP, UP, noise=0.01), grid(UP, UP, noise=0.3, small=20, large=21, seed=1).query('n_per_class == 20')]
    )
    sn = seed_noise(df).set_index('n_per_class')
    assert list(sn.index) == [5, 20, 50]
    assert sn.loc[5, 'signal_to_noise'] > 5 and sn.loc[20, 'signal_to_noise'] < sn.loc[5, 'signal_to_noise']
    assert sn.loc[5, 'anova_p'] < 1e-3 and np.isclose(sn.loc[5, 'seed_vs_seed_spearman'], 1)
    assert np.isclose(sn.loc[50, 'config_sd'], np.std(UP, ddof=1), atol=0.01)
    lad = agreement_ladder(df, n_boot=200)
    assert lad.small.tolist() == [5, 20] and (lad.large == 50).all()
    assert lad.spearman.iloc[0] > 0.9


# ---- real photographs through the real Learner ----------------------------------------------------------------------


@pytest.fixture(scope='module')
def nette():
    from course_lib.core import load_settings
    from course_lib.experiments import SubsetExperiment

    settings = load_settings(env={'COURSE_SCALE': 'tiny'})
    return SubsetExperiment(
        'imagenette', pool_per_class=6, n_valid_per_class=4, cache_size=64, settings=settings, progress=False
    )


def test_subset_draws_are_nested_and_seeded(nette):
    for s in (0, 1):
        small, big = set(nette.rung_idxs(2, s)), set(nette.rung_idxs(5, s))
        assert len(small) == 20 and len(big) == 50 and small < big
        assert np.bincount(nette.cache.labels[sorted(big)], minlength=10).tolist() == [5] * 10
    assert set(nette.rung_idxs(2, 0)) != set(nette.rung_idxs(2, 1))
    assert set(nette.rung_idxs(2, 0)).isdisjoint(nette.valid_idx) and len(nette.valid_idx) == 40
    assert all(p.split('/')[-1].startswith('ILSVRC2012_val_') for p in np.array(nette.cache.paths)[nette.valid_idx])
    with pytest.raises(ValueError, match='pool_per_class'):
        nette.rung_idxs(7, 0)


def test_real_grid_with_learner(nette, tmp_path):
    configs = {
        'lite0 64px': dict(arch='lite0', size=64, lr=3e-3, epochs=4),
        'lite0 32px flip': dict(arch='lite0', size=32, lr=3e-3, epochs=4, flip=True),
        'scratch 16px': dict(arch='scratch', size=16, lr=3e-3, epochs=3, width=8),
    }
    df = run_grid(configs, [2, 5], [0, 1], train_fn=nette, cache_dir=tmp_path, progress=False)
    assert len(df) == 12 and df.attrs['n_trained'] == 12 and df.accuracy.between(0, 1).all()
    assert {'accuracy', 'valid_loss', 'train_loss', 'n_train', 'diverged', 'fit_time', 'arch', 'size', 'lr'} <= set(
        df.columns
    )
    assert (df.n_train == df.n_per_class * 10).all()
    # pretrained features on real photos: far above chance (10 %) even with 2-5 images per class
    assert df[df.config == 'lite0 64px'].accuracy.mean() > 0.3, df
    again = run_grid(configs, [2, 5], [0, 1], train_fn=nette, cache_dir=tmp_path, progress=False)
    assert again.attrs['n_trained'] == 0 and np.allclose(again.accuracy, df.accuracy)
    r = rank_agreement(df, 2, 5, n_boot=200)
    assert -1 <= r.spearman <= 1 and r.n_configs == 3 and r.n_seeds == 2
    assert 0.1 < nette.zero_shot(64) <= 1
    # the cell is reproducible: same config, rung and seed -> same accuracy
    a = nette(2, 0, arch='lite0', size=64, lr=3e-3, epochs=4)['accuracy']
    assert a == df[(df.config == 'lite0 64px') & (df.n_per_class == 2) & (df.seed == 0)].accuracy.item()
    with pytest.raises(ValueError, match="unknown key"):
        run_grid(
            {'x': dict(arch='lite0', optimizer='sgd')}, [2], [0], train_fn=nette, cache_dir=tmp_path, progress=False
        )
