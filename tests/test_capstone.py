"""course_lib.capstone: recipes and their ablations, the clock and the stop at a target (censoring), the ratio interval
and its bounds, the DAWNBench table's cost column, the hourly price setting, and that seeds reproduce."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch.nn as nn

from course_lib.capstone import (
    TECHNIQUES,
    CheckTarget,
    PlainLoader,
    Recipe,
    TrainClock,
    ablations,
    capstone_config,
    capstone_dls,
    choose_target,
    dawnbench_table,
    hourly_price,
    ratio_interval,
    run_capstone,
    speedup_claim,
    train_to_target,
    warm_up,
)
from course_lib.callbacks import Callback
from course_lib.core import CourseConfigError, load_settings
from course_lib.learner import Learner
from course_lib.loaders import synthetic_dls
from course_lib.scoreboard import record_claim
from course_lib.timing import time_to_target

RECIPE = Recipe('recipe', steps=((0, 32), (1, 48)), epochs=2, eval_size=64)
BASELINE = Recipe('baseline', True, 'plain', 'constant', 1e-4, ((0, 48),), 3, None, False, False, None, 1.0)


# --- recipes and the ablation list -----------------------------------------------------------------------------
def test_ablation_list_on_cpu_and_cuda():
    cpu = ablations(RECIPE, BASELINE, cuda=False)
    names = ['baseline', 'recipe'] + [f'recipe - {t}' for t in TECHNIQUES if t != 'mixed precision']
    assert list(cpu) == names
    assert list(ablations(RECIPE, BASELINE, cuda=True)) == ['baseline', 'recipe'] + [
        f'recipe - {t}' for t in TECHNIQUES
    ]
    assert cpu['baseline'] == dataclasses.replace(BASELINE, name='baseline') and cpu['recipe'].techniques == TECHNIQUES


def test_each_ablation_removes_exactly_its_technique():
    for name, r in ablations(RECIPE, BASELINE, cuda=True).items():
        if name.startswith('recipe - '):
            t = name[len('recipe - ') :]
            assert not r.uses(t), name
            gone = {t, 'partial fine-tuning'} if t == 'pretrained' else {t}  # random weights: the whole net trains
            assert set(RECIPE.techniques) - set(r.techniques) == gone, (name, r.techniques)
    no_pre = RECIPE.without('pretrained')
    assert no_pre.train_last is None, 'from scratch, the whole network trains'
    assert RECIPE.without('progressive resizing').steps == ((0, 48),)
    assert RECIPE.without('one-cycle').lr == RECIPE.lr  # same learning rate, no cycle
    assert RECIPE.without('partial fine-tuning').body_lr_div == 10, 'the whole net keeps discriminative learning rates'


def test_baseline_uses_no_technique_but_pretrained():
    assert BASELINE.techniques == ('pretrained',)
    assert ablations(RECIPE, BASELINE, cuda=False)['baseline'].loader == 'plain'


@pytest.mark.parametrize(
    'kw, msg',
    [
        (dict(loader='fast'), "loader is 'cached' or 'plain'"),
        (dict(schedule='cosine'), "schedule 'one_cycle'"),
        (dict(lr=0), 'lr > 0'),
        (dict(steps=((0, 32), (3, 48)), epochs=2), 'get no epoch'),
        (dict(steps=((0, 48), (1, 32))), 'shrink'),
    ],
)
def test_recipe_errors(kw, msg):
    with pytest.raises(Exception, match=msg):
        Recipe('bad', **kw)


def test_without_a_technique_it_does_not_use():
    with pytest.raises(ValueError, match='does not use'):
        BASELINE.without('TTA')
    with pytest.raises(KeyError, match='dropout'):
        RECIPE.uses('dropout')


def test_presets_fit_their_schedules():
    for scale in ('tiny', 'small', 'full'):
        cfg = capstone_config(dataclasses.replace(load_settings(check_cache=False), scale=scale))
        assert cfg.scale == scale and len(cfg.seeds) >= 2 and cfg.budget_x > cfg.ablation_budget_x > 1
        assert cfg.recipe.eval_px >= cfg.recipe.final_size and 0 < cfg.target_frac <= 1
        assert cfg.pilot_seed not in cfg.seeds, 'the pilot that sets the target is not one of the measured runs'
    assert len(capstone_config(dataclasses.replace(load_settings(check_cache=False), scale='small')).seeds) >= 3


# --- the clock, the stop at the target, censoring --------------------------------------------------------------
def _fit(target, budget, epochs, n_train=256, cbs=()):
    dls = synthetic_dls(n_train=n_train, n_valid=64, size=16, bs=32)
    m = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    clock = TrainClock()
    cbs = [clock, CheckTarget(clock, target=target, budget=budget), *cbs]
    return Learner(m, dls, progress=False, cbs=cbs).fit(epochs, 1e-2)


def test_stops_at_the_first_check_reaching_the_target():
    h = _fit(target=0.6, budget=None, epochs=50)
    assert h.accuracy.iloc[-1] >= 0.6 and (h.accuracy.iloc[:-1] < 0.6).all() and len(h) < 50
    assert time_to_target(h, 0.6, time_col='clock') == h.clock.iloc[-1] > 0
    assert h.clock.is_monotonic_increasing and np.allclose(h.accuracy, h.accuracy_plain)


class CountBatches(Callback):
    def before_epoch(self, learn):
        self.n = 0

    def after_batch(self, learn):
        self.n += learn.training


def test_never_reached_is_censored_at_the_budget_mid_epoch():
    count = CountBatches()
    h = _fit(target=1.01, budget=0.01, epochs=1000, n_train=16384, cbs=[count])  # 512 batches an epoch
    assert len(h) == 1 and count.n < 512, 'the budget stops the fit inside its first epoch'
    assert h.clock.iloc[-1] >= 0.01 and not math.isnan(h.accuracy.iloc[-1]), 'the cut epoch is still checked'
    assert (h.accuracy < 1.01).all()  # never reached: a run_capstone row would have time_to_target = inf


def test_time_to_target_inf_when_no_epoch_reaches():
    h = pd.DataFrame(dict(accuracy=[0.3, 0.5, 0.6], clock=[1.0, 2.0, 3.0]))
    assert time_to_target(h, 0.7, time_col='clock') == math.inf
    assert time_to_target(h, 0.5, time_col='clock') == 2.0


def test_choose_target_floors_a_fraction_of_the_pilot():
    assert choose_target(0.835, 0.95) == 0.79
    assert choose_target({'history': pd.DataFrame(dict(accuracy=[0.2, 0.9]))}, 1.0) == 0.9
    with pytest.raises(ValueError, match='fractions'):
        choose_target(87.0)


# --- the ratio interval and its bounds --------------------------------------------------------------------------
def runs_of(ta, tb, spent_b=60.0, spent_a=30.0):
    rows = [
        dict(config=c, seed=s, time_to_target=t, spent=t if math.isfinite(t) else sp)
        for c, ts, sp in (('recipe', ta, spent_a), ('baseline', tb, spent_b))
        for s, t in enumerate(ts)
    ]
    return pd.DataFrame(rows)


def test_ratio_interval_is_a_geometric_mean_with_a_paired_t_interval():
    from scipy import stats

    ta, tb = np.array([5.0, 6.0, 5.5]), np.array([40.0, 45.0, 50.0])
    iv = ratio_interval(runs_of(ta, tb))
    logs = np.log(ta / tb)
    h = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / math.sqrt(3)
    assert iv['kind'] == 'interval' and iv['n'] == 3
    assert iv['ratio'] == pytest.approx(math.exp(logs.mean()))
    assert (iv['low'], iv['high']) == pytest.approx((math.exp(logs.mean() - h), math.exp(logs.mean() + h)))
    assert iv['per_seed'] == pytest.approx((ta / tb).tolist())


def test_ratio_pairs_by_seed():
    iv = ratio_interval(runs_of([1.0, 10.0], [2.0, 20.0]))
    assert iv['ratio'] == pytest.approx(0.5) and iv['low'] == pytest.approx(0.5), 'paired: the seed effect cancels'


def test_censored_baseline_gives_an_upper_bound():
    iv = ratio_interval(runs_of([5.0, 6.0, 5.5], [math.inf, 45.0, math.inf], spent_b=60.0))
    assert iv['kind'] == 'upper bound' and iv['n_censored_b'] == 2 and iv['low'] == 0
    exact = math.exp(np.mean(np.log([5 / 60, 6 / 45, 5.5 / 60])))
    assert iv['ratio'] == pytest.approx(exact) and iv['high'] > iv['ratio']


def test_censored_recipe_gives_a_lower_bound_and_both_undefined():
    iv = ratio_interval(runs_of([math.inf, 6.0], [40.0, 45.0]))
    assert (
        iv['kind'] == 'lower bound'
        and iv['high'] == math.inf
        and iv['ratio'] == pytest.approx(math.exp(np.mean(np.log([30 / 40, 6 / 45]))))
    )
    for ta, tb in (([math.inf, 6.0], [math.inf, 45.0]), ([math.inf, 6.0], [40.0, math.inf])):
        iv = ratio_interval(runs_of(ta, tb))
        assert iv['kind'] == 'undefined' and math.isnan(iv['ratio'])
        with pytest.raises(ValueError, match='No speed-up'):
            speedup_claim(iv)


def test_ratio_needs_two_shared_seeds():
    with pytest.raises(ValueError, match='at least 2 seeds'):
        ratio_interval(runs_of([5.0], [40.0]))


def test_speedup_claims_are_accepted_and_never_overclaim():
    ok = record_claim('05_test', **speedup_claim(ratio_interval(runs_of([5.0, 6.0, 5.5], [40.0, 45.0, 50.0])), 4))
    assert ok['verdict'] == 'supported' and ok['value'] == pytest.approx(1 / 0.1224, rel=1e-2)
    cens = speedup_claim(ratio_interval(runs_of([50.0, 55.0], [math.inf, math.inf], spent_b=60.0)), 4)
    assert 'lower bound' in cens['detail'] and cens['high'] >= 4
    assert record_claim('05_test', **cens)['verdict'] == 'inconclusive', 'a censored baseline cannot contradict'
    slow = speedup_claim(ratio_interval(runs_of([math.inf, math.inf], [3.0, 3.5], spent_a=30.0)), 4)
    assert slow['low'] <= 4 and record_claim('05_test', **slow)['verdict'] != 'supported'


# --- the DAWNBench table and the hourly price --------------------------------------------------------------------
def _table_runs():
    df = runs_of([5.0, 6.0, 5.5], [math.inf, 45.0, math.inf])
    df['reached'] = np.isfinite(df.time_to_target)
    return df.assign(valid_acc=0.8, test_acc=[0.8, 0.82, 0.81, 0.7, 0.72, 0.71], n_test=500)


def test_table_cost_column():
    t = dawnbench_table(_table_runs(), price=3.6, hardware='CPU (2 cores)', threads=2)
    assert t.loc['recipe', 'machine_s'] == pytest.approx(5.5 / 2)
    assert t.loc['recipe', 'cost_usd'] == pytest.approx(5.5 / 2 / 3600 * 3.6)
    assert t.loc['baseline', 'time'] == '> 60 s' and t.loc['baseline', 'reached'] == '1/3'
    assert t.loc['recipe', 'ratio_to_baseline'].startswith('< ') and t.loc['baseline', 'ratio_to_baseline'] == ''
    assert (dawnbench_table(_table_runs(), price=0.0, hardware='CPU (2 cores)').cost_usd == '').all()
    both = _table_runs().assign(time_to_target=math.inf, reached=False)
    assert dawnbench_table(both, hardware='CPU (2 cores)').loc['recipe', 'ratio_to_baseline'] == 'both censored'
    g = dawnbench_table(_table_runs(), price=2.0, hardware='NVIDIA H100', threads=1)
    assert (
        g.loc['recipe', 'cost_usd'] == pytest.approx(5.5 / 3600 * 2.0) and g.loc['recipe', 'hardware'] == 'NVIDIA H100'
    )


def test_table_test_se_never_below_binomial():
    t = dawnbench_table(_table_runs().assign(test_acc=0.8), hardware='CPU (2 cores)')
    assert t.loc['recipe', 'test_se'] == pytest.approx(math.sqrt(0.8 * 0.2 / 500))


def test_hourly_price_setting(tmp_path):
    ini = tmp_path / 'settings.ini'
    ini.write_text('[course]\nscale = tiny\n')
    s = load_settings(ini, env={}, check_cache=False)
    assert hourly_price(s) == 0.0 and not s.notes
    ini.write_text('[course]\nscale = tiny\n[capstone]\nhourly_price = 2.48\n')
    s = load_settings(ini, env={}, check_cache=False)
    assert hourly_price(s) == 2.48 and not s.notes, 'course_setup accepts the key silently'
    for bad in ('-1', 'cheap', 'nan'):
        ini.write_text(f'[course]\nscale = tiny\n[capstone]\nhourly_price = {bad}\n')
        with pytest.raises(CourseConfigError, match='hourly_price'):
            hourly_price(load_settings(ini, env={}, check_cache=False))


def test_repository_settings_document_the_price():
    from course_lib.core import find_settings_file

    text = find_settings_file().read_text()
    assert '[capstone]' in text and 'hourly_price = 0' in text


# --- real images at tiny scale: the plain loader and reproducible seeds -----------------------------------------
@pytest.fixture(scope='module')
def tiny_dls(tmp_path_factory, mirror):
    env = {'COURSE_SCALE': 'tiny', 'COURSE_DATA_MIRROR': str(mirror), 'COURSE_CACHE': str(tmp_path_factory.mktemp('c'))}
    s = load_settings(env=env)
    return capstone_dls(s, capstone_config(s))


def test_warm_up_leaves_the_loaders_as_they_were(tiny_dls):
    before = (tiny_dls.train.size, tiny_dls.train.epoch, tiny_dls.valid.size)
    warm_up(tiny_dls, {'a': Recipe('a', steps=((0, 32), (1, 40)), epochs=2, eval_size=48)})
    assert (tiny_dls.train.size, tiny_dls.train.epoch, tiny_dls.valid.size) == before


def test_plain_loader_gives_the_cached_batches(tiny_dls):
    cached, plain = tiny_dls.train, PlainLoader(tiny_dls.train, tiny_dls.subset.root)
    for dl in (cached, plain):
        dl.set_epoch(3)
    (xc, yc), (xp, yp) = next(iter(cached)), next(iter(plain))
    assert (yc == yp).all() and np.allclose(xc.numpy(), xp.numpy())
    assert not hasattr(tiny_dls.train.cache.images, 'paths'), 'the cached loader itself is untouched'


def test_seeds_reproduce_and_differ(tiny_dls):
    r = Recipe('r', steps=((0, 32),), epochs=1, eval_size=48, tta=False)
    a, b, c = (train_to_target(r, tiny_dls, seed=s, target=None) for s in (0, 0, 1))
    assert a['history'].accuracy.tolist() == b['history'].accuracy.tolist() and a['test_acc'] == b['test_acc']
    wa, wc = (x['learn'].model.head[-1].weight.detach() for x in (a, c))
    assert not np.allclose(wa.numpy(), wc.numpy()), 'another seed draws another head'
    assert a['n_test'] == tiny_dls.test.n and math.isnan(a['time_to_target']) and a['spent'] > 0


def test_run_capstone_rows_and_order(tiny_dls):
    recipes = {
        'fast': Recipe('fast', steps=((0, 32),), epochs=1, tta=False),
        'cut': Recipe('cut', steps=((0, 32),), epochs=1),
    }
    runs = run_capstone(recipes, tiny_dls, seeds=(0, 1), target=0.0, budget={'cut': 0.0})
    assert runs[['config', 'seed']].values.tolist() == [['fast', 0], ['cut', 0], ['cut', 1], ['fast', 1]]
    assert runs.reached.all() and (runs.epochs_run == 1).all() and {'curve_clock', 'curve_acc', 'test_acc'} <= set(runs)
    assert (
        runs.loc[runs.config == 'cut', 'budget'].eq(0.0).all()
        and runs.loc[runs.config == 'fast', 'budget'].eq(math.inf).all()
    )
