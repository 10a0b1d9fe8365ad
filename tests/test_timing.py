"Tests for course_lib.timing: time to a target accuracy from a history, and the CPU clock callback."

import math

import pandas as pd
import pytest
import torch

from course_lib.timing import CPUClock, compare_time_to_target, plot_accuracy_vs_time, time_to_target


HIST = pd.DataFrame(dict(epoch=[0, 1, 2, 3], accuracy=[0.20, 0.55, 0.50, 0.70], elapsed=[10.0, 25.0, 40.0, 60.0]))


def test_time_to_target_known_histories():
    assert time_to_target(HIST, 0.5) == 25.0  # first epoch at or above target
    assert time_to_target(HIST, 0.55) == 25.0  # >= counts
    assert time_to_target(HIST, 0.6) == 60.0  # the dip at epoch 2 does not count
    assert time_to_target(HIST, 0.0) == 10.0
    assert time_to_target(HIST, 0.71) == math.inf  # never reached
    assert time_to_target(HIST, 0.6, return_epoch=True) == (60.0, 3)
    assert time_to_target(HIST, 0.9, return_epoch=True) == (math.inf, None)
    assert time_to_target(HIST.to_dict('records'), 0.5) == 25.0  # list of rows works too


def test_time_to_target_errors():
    with pytest.raises(ValueError, match='write 0.7 for 70 %'):
        time_to_target(HIST, 70)
    with pytest.raises(ValueError, match='empty'):
        time_to_target(pd.DataFrame(), 0.5)
    with pytest.raises(ValueError, match="no column"):
        time_to_target(HIST.drop(columns='elapsed'), 0.5)
    with pytest.raises(ValueError, match='cumulative'):
        time_to_target(HIST.assign(elapsed=[1.0, 3.0, 2.0, 4.0]), 0.5)


def test_compare_time_to_target():
    fast = HIST.assign(elapsed=HIST.elapsed * 0.5)
    t = compare_time_to_target({'fixed': HIST, 'progressive': fast}, [0.5, 0.6, 0.9])
    assert list(t.columns[:5]) == ['run', 'target', 'time_to_target', 'epoch', 'ratio_to_baseline']
    r = t.set_index(['run', 'target'])
    assert r.loc[('progressive', 0.5), 'ratio_to_baseline'] == pytest.approx(0.5)
    assert r.loc[('fixed', 0.6), 'ratio_to_baseline'] == pytest.approx(1.0)
    assert math.isnan(r.loc[('progressive', 0.9), 'ratio_to_baseline'])
    assert r.loc[('fixed', 0.5), 'final_accuracy'] == 0.70 and r.loc[('fixed', 0.5), 'total_time'] == 60.0
    with pytest.raises(ValueError, match='baseline'):
        compare_time_to_target({'a': HIST}, 0.5, baseline='b')


def test_cpu_clock_counts_across_fits():
    from course_lib.learner import Learner
    from course_lib.loaders import synthetic_dls

    torch.manual_seed(0)
    dls = synthetic_dls(n_train=64, n_valid=32, size=8, bs=16)
    learn = Learner(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)), dls, progress=False)
    learn.fit_one_cycle(2, 1e-2, cbs=[CPUClock()])
    learn.fit_one_cycle(1, 1e-2, cbs=[CPUClock()])
    c = learn.history.cpu_elapsed
    assert len(c) == 3 and (c > 0).all() and c.is_monotonic_increasing


def test_plot_accuracy_vs_time_marks_the_target():
    import matplotlib

    matplotlib.use('Agg')
    ax = plot_accuracy_vs_time({'a': HIST, 'b': HIST.assign(size=[32, 32, 48, 48])}, target=0.5, title='t')
    assert len(ax.lines) == 2 + 2 + 1  # two runs, where each reaches the target, the target line
    assert [t.get_text() for t in ax.texts] == ['32', '32', '48', '48']


def test_cpu_clock_train_time_is_part_of_the_epoch():
    from course_lib.learner import Learner
    from course_lib.loaders import synthetic_dls

    torch.manual_seed(0)
    dls = synthetic_dls(n_train=64, n_valid=32, size=8, bs=16)
    learn = Learner(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)), dls, progress=False)
    learn.fit_one_cycle(2, 1e-2, cbs=[CPUClock()])
    h = learn.history
    per_epoch = h.cpu_elapsed.diff().fillna(h.cpu_elapsed)
    assert (h.cpu_train_time > 0).all() and (h.cpu_train_time <= per_epoch + 1e-6).all()


def test_mean_interval_uses_student_t():
    from course_lib.timing import mean_interval

    iv = mean_interval([1.0, 2.0, 3.0])
    assert iv['mean'] == pytest.approx(2.0) and iv['se'] == pytest.approx(1 / math.sqrt(3)) and iv['n'] == 3
    assert (iv['high'] - iv['mean']) / iv['se'] == pytest.approx(4.3027, abs=1e-3)  # t(2), not 1.96
    assert mean_interval([1.0, 2.0, 3.0], conf=0.5)['high'] < iv['high']
    wide = mean_interval([1.0, 3.0])  # two seeds: t(1) = 12.7
    assert wide['low'] < -10 and wide['high'] > 14
    for bad in ([1.0], [1.0, math.nan]):
        with pytest.raises(ValueError):
            mean_interval(bad)


def test_paired_difference_cancels_what_seeds_share():
    from course_lib.timing import paired_difference

    fixed = [0.70, 0.80, 0.90]  # big seed-to-seed spread ...
    prog = [0.71, 0.81, 0.91]  # ... but the same +1 point within each seed
    d = paired_difference(prog, fixed)
    assert d['mean'] == pytest.approx(0.01) and d['high'] - d['low'] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match='as many'):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])


def test_check_cost_model_flags_impossible_timings():
    from course_lib.scoreboard import record_claim
    from course_lib.timing import check_cost_model

    ok = check_cost_model([0.40, 0.42, 0.41], predicted=0.25)  # fixed costs: dearer than pixels, fine
    assert ok['verdict'] is None and ok['value'] == pytest.approx(1 - 0.41)
    assert record_claim('t', 'saving', **ok)['verdict'] == 'supported'
    bad = check_cost_model([0.06, 0.07, 0.05], predicted=0.25)  # 16x cheaper for 4x fewer pixels
    assert bad['verdict'] == 'flagged' and 'broke the cost model' in bad['detail']
    assert record_claim('t', 'saving', **bad)['verdict'] == 'flagged'
    noisy = check_cost_model([0.1, 0.9], predicted=0.25)  # too noisy to accuse: the interval reaches the prediction
    assert noisy['verdict'] is None
    with pytest.raises(ValueError, match='cost ratio'):
        check_cost_model([0.3, 0.3], predicted=4)


def test_min_se_floors_a_point_interval():
    from course_lib.timing import paired_difference

    same = paired_difference([0.42, 0.44], [0.40, 0.42])  # two seeds, the same +2 points: a point interval ...
    assert same['high'] - same['low'] == pytest.approx(0.0, abs=1e-9)
    floored = paired_difference([0.42, 0.44], [0.40, 0.42], min_se=1 / 50)  # ... unless one image (of 50) is the floor
    assert floored['se'] == pytest.approx(0.02) and floored['low'] < 0 < floored['high']
