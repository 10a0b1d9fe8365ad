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
