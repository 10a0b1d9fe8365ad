"Callbacks: schedules as functions of the fraction of training done, ParamScheduler, TimeBudget."

import math
import time
from types import SimpleNamespace

import pytest
import torch

from course_lib.callbacks import (
    Callback,
    CancelFitException,
    CancelTrainException,
    ParamScheduler,
    TimeBudget,
    combined_cos,
    sched_cos,
    sched_exp,
    sched_lin,
)


def test_schedules_at_given_fractions():
    assert [sched_lin(2, 4)(p) for p in (0, 0.5, 1)] == [2, 3, 4]
    assert [round(sched_cos(2, 4)(p), 12) for p in (0, 0.5, 1)] == [2, 3, 4]
    assert math.isclose(sched_cos(0, 1)(0.25), (1 - math.cos(math.pi / 4)) / 2)
    assert math.isclose(sched_exp(1e-7, 10)(0.5), 1e-7 * 1e4) and math.isclose(sched_exp(1e-7, 10)(1), 10)
    f = combined_cos(0.25, 1.0, 10.0, 0.0)
    assert f(0) == 1.0 and f(0.25) == 10.0 and abs(f(1)) < 1e-12
    assert math.isclose(f(0.125), 5.5) and math.isclose(f(0.625), 5.0)  # halfway up, halfway down
    assert combined_cos(0.0, 1.0, 10.0, 0.0)(0) == 10.0 and combined_cos(1.0, 1.0, 10.0, 0.0)(1) == 10.0


def test_param_scheduler_sets_each_group_from_pct():
    opt = torch.optim.AdamW([{'params': [torch.zeros(1)]}, {'params': [torch.zeros(1)]}], lr=0.1)
    sgd = torch.optim.SGD([torch.zeros(1)], lr=0.1, momentum=0.9)
    learn = SimpleNamespace(opt=opt, training=True, pct_train=0.5)
    lr = ParamScheduler('lr', [sched_lin(0, 1), sched_lin(0, 10)])
    mom = ParamScheduler('mom', sched_lin(0.9, 0.8))
    for cb in (lr, mom):
        cb.before_fit(learn)
        cb.before_batch(learn)
    assert [g['lr'] for g in opt.param_groups] == [0.5, 5.0]
    assert [g['betas'] for g in opt.param_groups] == [pytest.approx((0.85, 0.999))] * 2
    learn.training, learn.pct_train = False, 1.0
    lr.before_batch(learn)  # validation batches leave the hyper-parameters alone
    assert [g['lr'] for g in opt.param_groups] == [0.5, 5.0]
    sgd_learn = SimpleNamespace(opt=sgd, training=True, pct_train=1.0)
    mom.before_fit(sgd_learn)
    mom.before_batch(sgd_learn)
    assert math.isclose(sgd.param_groups[0]['momentum'], 0.8)
    with pytest.raises(ValueError, match='2 schedules for 1 parameter groups'):
        ParamScheduler('lr', [sched_lin(0, 1)] * 2).before_fit(sgd_learn)
    assert isinstance(lr, Callback) and Callback.order == 0


def test_time_budget_cancels_the_pass_then_the_fit():
    tb, learn = TimeBudget(0.02), SimpleNamespace(training=True)
    tb.before_fit(learn)
    tb.before_epoch(learn)
    tb.before_train(learn)
    tb.after_batch(learn)
    time.sleep(0.03)
    learn.training = False
    tb.after_batch(learn)  # validation time does not count
    learn.training = True
    with pytest.raises(CancelTrainException):
        tb.after_batch(learn)
    tb.after_train(learn)
    assert tb.used >= 0.02 and tb.spent
    with pytest.raises(CancelFitException):
        tb.before_epoch(learn)
    tb.before_fit(learn)  # a new fit starts with the whole budget
    tb.before_epoch(learn)
    assert TimeBudget.order > 0
