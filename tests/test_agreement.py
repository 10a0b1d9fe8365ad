"Tests for course_lib.agreement: summaries, seed noise, rank agreement with bootstrap intervals (no torch)."

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from course_lib.agreement import agreement_ladder, rank_agreement, seed_noise, seed_pairing, ties_with_best


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
    from course_lib.agreement import _spearman_rows, _kendall_rows

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


def test_regret_interval_holds_the_point_and_widens_with_seed_noise():
    quiet = rank_agreement(grid(UP, UP[::-1], noise=0.001, seeds=(0, 1, 2)), 5, 50, n_boot=500)
    assert np.isclose(quiet.regret, 0.5, atol=0.01) and quiet.regret_lo > 0.45  # the wrong winner, every resample
    close = [0.50, 0.51, 0.52, 0.53]
    loud = rank_agreement(grid(close, close[::-1], noise=0.05, seeds=(0, 1, 2)), 5, 50, n_boot=500)
    assert loud.regret_lo <= loud.regret <= loud.regret_hi and loud.regret_lo >= 0
    assert loud.regret_hi - loud.regret_lo > quiet.regret_hi - quiet.regret_lo
    m = grid(close, close[::-1], noise=0.05, seeds=(0, 1, 2)).groupby(['n_per_class', 'config']).accuracy.mean()
    assert np.isclose(loud.regret, m[50].max() - m[50][m[5].idxmax()])
    pd.testing.assert_series_equal(loud, rank_agreement(grid(close, close[::-1], 0.05, (0, 1, 2)), 5, 50, n_boot=500))


def test_ties_with_best():
    df = grid(UP, [0.60, 0.601, 0.602, 0.30, 0.20, 0.10], noise=0.01, seeds=(0, 1, 2))
    t = ties_with_best(df, 50)
    assert t.index[0] == t['mean'].idxmax() and t.gap.iloc[0] == 0 and t.tied.iloc[0]
    assert set(t.index[t.tied]) == {'c0', 'c1', 'c2'}  # 0.002 apart with seed SD 0.01: ties; 0.3 apart: not
    assert np.allclose(t.se_gap.iloc[1:] ** 2, t.se.iloc[1:] ** 2 + t.se.iloc[0] ** 2)
    with pytest.raises(ValueError, match='2 seeds'):
        ties_with_best(grid(UP, UP, seeds=(0,)), 50)


def test_seed_pairing_measures_what_shared_draws_add():
    rng = np.random.default_rng(0)
    true, luck = np.linspace(0.5, 0.6, 8), rng.normal(0, 0.05, (3, 8))

    def table(shared):
        return pd.DataFrame(
            [
                dict(config=f'c{i}', n_per_class=n, seed=s, accuracy=true[i] + (luck[s, i] if shared or n == 10 else 0))
                for n in (10, 100)
                for i in range(8)
                for s in range(3)
            ]
        )

    shared, independent = seed_pairing(table(True), 10, 100), seed_pairing(table(False), 10, 100)
    assert shared.same_seed_spearman > shared.cross_seed_spearman and shared.shared_gain_lo > 0
    assert np.isclose(independent.shared_gain, 0) and independent.shared_gain_lo <= 0 <= independent.shared_gain_hi
    for r in (shared, independent):
        assert r.shared_gain_lo <= r.shared_gain <= r.shared_gain_hi and r.n_seeds == 3
    with pytest.raises(ValueError, match='2 seeds'):
        seed_pairing(grid(UP, UP, seeds=(0,)), 5, 50)


def test_plots_have_one_plain_tick_per_rung_and_legends_outside():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from course_lib.agreement import plot_ladder, plot_rank_agreement

    df = pd.concat([grid(UP, UP, noise=0.02, small=s, large=100, seeds=(0, 1, 2)) for s in (5, 10, 20)])
    df = df.drop_duplicates(['config', 'n_per_class', 'seed'])
    fig, axs = plt.subplots(1, 2, figsize=(12, 4))
    plot_ladder(df, ax=axs[0], ylabel='validation accuracy', configs=['c0', 'c5'])
    plot_rank_agreement(df, 5, 100, ax=axs[1], label='validation accuracy')
    fig.canvas.draw()
    ax = axs[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ['5', '10', '20', '100']
    assert len(ax.xaxis.get_minorticklocs()) == 0 and ax.get_ylabel() == 'validation accuracy'
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ['c0', 'c5']
    assert len(axs[1].get_legend().get_texts()) == len(UP) and not axs[1].texts  # names in a legend, not on points
    assert axs[1].get_xlabel() == 'validation accuracy at 5 images/class'
    for a in axs:  # the legend sits to the right of the axes, not over the data
        assert a.get_legend().get_window_extent().x0 >= a.get_window_extent().x1
    plt.close(fig)
