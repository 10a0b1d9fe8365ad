"""Benchmark: wall time to reach a target validation accuracy, fixed-size vs progressive resizing.

Both runs train the same from-scratch ResNet (course_lib resnet_scratch, same seed: same initial weights, same
batches) on the same real Imagenette subset, for the same number of epochs, validating every epoch at the final
size. By default the two runs take turns epoch by epoch (two threads, only one of them computing at any time),
so that other programs slowing the machine down hit both runs alike; --sequential runs one after the other.

Prints the per-epoch history, the time (wall clock and CPU) to reach the target for each run, their ratio and
the final accuracies. Goal: progressive reaches the target in <= 0.6x the fixed-size time, final accuracy
within one point.

    python benchmarks/bench_resize.py                       # small scale, 10 epochs, 64 -> 96 -> 128 px
    python benchmarks/bench_resize.py --scale tiny --epochs 4 --sizes 32,48 --starts 0,0.5
    python benchmarks/bench_resize.py --target 0.45         # a fixed target instead of fixed-final - 2 points
"""

import argparse
import math
import os
import threading
import time

import pandas as pd


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument(
        '--scale', default='small', choices=['tiny', 'small', 'full'], help='course scale preset (data size)'
    )
    p.add_argument('--family', default='imagenette', choices=['imagenette', 'imagewoof'])
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--sizes', default='64,96,128', help='progressive sizes; the last is the fixed-size run\'s size')
    p.add_argument('--starts', default='0,0.6,0.8', help='fraction of training at which each size starts')
    p.add_argument(
        '--target',
        type=float,
        default=None,
        help='target validation accuracy in [0, 1]; default: the fixed run\'s final accuracy - --margin',
    )
    p.add_argument('--margin', type=float, default=0.02, help='default target = fixed final accuracy - margin')
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--bs', type=int, default=None, help='batch size (default: the scale preset\'s)')
    p.add_argument(
        '--bs-rule',
        default='none',
        choices=['none', 'pixels'],
        help="progressive run's batch size: constant, or constant pixels per batch",
    )
    p.add_argument('--stride2-stem', action='store_true', help='resnet_scratch(small_input=False): cheaper at 128 px')
    p.add_argument('--n-train', type=int, default=None, help='training images per class (default: preset)')
    p.add_argument('--n-valid', type=int, default=None, help='validation images per class (default: preset)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--sequential', action='store_true', help='run fixed, then progressive (no turn-taking)')
    a = p.parse_args(argv)
    a.sizes = [int(s) for s in a.sizes.split(',')]
    a.starts = [float(s) for s in a.starts.split(',')]
    if len(a.sizes) != len(a.starts):
        p.error('--sizes and --starts need the same number of values')
    if a.target is not None and not 0 < a.target <= 1:
        p.error('--target is a fraction in (0, 1], e.g. 0.45')
    return a


class _Turns:
    "Epoch-by-epoch turn-taking between runs in threads: only the run whose turn it is computes."

    def __init__(self, n):
        self.cond, self.turn, self.done, self.n = threading.Condition(), 0, set(), n

    def _next(self, i):
        for k in range(1, self.n + 1):
            j = (i + k) % self.n
            if j not in self.done:
                return j
        return i

    def wait(self, i):
        with self.cond:
            self.cond.wait_for(lambda: self.turn == i)

    def pass_on(self, i, finished=False):
        with self.cond:
            if finished:
                self.done.add(i)
            self.turn = self._next(i)
            self.cond.notify_all()


def _take_turns(turns, i):
    "Learner callback: wait for our turn before the fit and between epochs, outside the Learner's epoch clock."
    from course_lib.callbacks import Callback

    class TakeTurns(Callback):
        order = 1000  # after every other callback's after_epoch: the epoch's row is complete

        def before_fit(self, learn):
            turns.wait(i)

        def after_epoch(self, learn):  # the epoch's times are recorded before after_epoch runs
            if learn.epoch < learn.n_epochs - 1:
                turns.pass_on(i)
                turns.wait(i)

    return TakeTurns()


def main(argv=None):
    a = parse_args(argv)
    os.environ['COURSE_SCALE'] = a.scale
    from course_lib.core import course_setup, describe_machine, seed_everything
    from course_lib.data import subset_for_scale
    from course_lib.learner import Learner
    from course_lib.loaders import get_dls
    from course_lib.models import resnet_scratch
    from course_lib.resizing import ProgressiveResizing, SizeSchedule, warm_up
    from course_lib.timing import CPUClock, check_cost_model, compare_time_to_target

    settings = course_setup(a.scale)
    prog = SizeSchedule([(0 if s == 0 else s, z) for s, z in zip(a.starts, a.sizes)])
    final = prog.final_size
    fixed = SizeSchedule.fixed(final)
    print(
        f"progressive: {prog!r} over {a.epochs} epochs -> {prog.sizes(a.epochs)}; "
        f"predicted cost (pixels) {prog.relative_cost(a.epochs):.2f}x of fixed {final} px"
    )
    over = {k: v for k, v in dict(n_train_per_class=a.n_train, n_valid_per_class=a.n_valid).items() if v is not None}
    subset = subset_for_scale(a.family, settings=settings, **over)
    bs = a.bs or settings.preset.batch_size
    cache = max(settings.preset.cache_size, final)

    def mk():
        return get_dls(subset, final, bs=bs, settings=settings, progress=False, cache_size=cache, seed=a.seed)

    model_kw = dict(small_input=not a.stride2_stem)
    specs = [('fixed', fixed, None), ('progressive', prog, None if a.bs_rule == 'none' else a.bs_rule)]
    learners = []
    for name, sched, rule in specs:  # same seed: same initial weights; own loaders, same batches
        seed_everything(a.seed)
        dls = mk()
        model = resnet_scratch(dls.n_classes, **model_kw)
        cbs = [ProgressiveResizing(sched, n_epochs=a.epochs, bs_rule=rule, valid_size=final), CPUClock()]
        learners.append((name, Learner(model, dls, progress=False, cbs=cbs)))
    print(
        f"data: {subset.name}: {learners[0][1].dls.train.n} train / {learners[0][1].dls.valid.n} valid images, "
        f"cache {cache} px, batch {bs}; model resnet_scratch({model_kw}); lr {a.lr}; "
        f"{'sequential' if a.sequential else 'interleaved epoch by epoch'}"
    )
    print(f"machine: {describe_machine()}; load average before: {os.getloadavg()[0]:.1f}")

    print(f"warm-up (one-off costs, not timed): {warm_up(learners[0][1].dls, prog.sizes_used, model_kw):.1f} s")
    t0 = time.perf_counter()
    if a.sequential:
        for name, learn in learners:
            learn.fit_one_cycle(a.epochs, a.lr)
    else:
        turns, errors = _Turns(len(learners)), {}

        def work(i, learn):
            try:
                learn.fit_one_cycle(a.epochs, a.lr, cbs=[_take_turns(turns, i)])
            except BaseException as e:
                errors[i] = e
            finally:
                turns.pass_on(i, finished=True)

        ths = [threading.Thread(target=work, args=(i, learn)) for i, (_, learn) in enumerate(learners)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        if errors:
            raise next(iter(errors.values()))
    total = time.perf_counter() - t0

    runs = {name: learn.history for name, learn in learners}
    cols = [
        'epoch',
        'size',
        'bs',
        'steps',
        'train_loss',
        'accuracy',
        'train_time',
        'epoch_time',
        'elapsed',
        'cpu_elapsed',
    ]
    with pd.option_context('display.width', 160, 'display.max_columns', 20):
        print(pd.concat({k: h[cols] for k, h in runs.items()}).round(3))
    acc_f, acc_p = (runs[k].accuracy.iloc[-1] for k in ('fixed', 'progressive'))
    target = a.target if a.target is not None else round(acc_f - a.margin, 3)
    t = compare_time_to_target(runs, [target], baseline='fixed').set_index('run')
    tc = compare_time_to_target(runs, [target], baseline='fixed', time_col='cpu_elapsed').set_index('run')
    tf, tp = t.loc['fixed', 'time_to_target'], t.loc['progressive', 'time_to_target']
    ratio, cratio = t.loc['progressive', 'ratio_to_baseline'], tc.loc['progressive', 'ratio_to_baseline']
    n_valid = learners[0][1].dls.valid.n
    se = math.sqrt(acc_f * (1 - acc_f) / n_valid + acc_p * (1 - acc_p) / n_valid)
    print(f"\nbenchmark run took {total:.0f} s wall; load average after: {os.getloadavg()[0]:.1f}")
    print(f"target accuracy: {target:.3f}" + (" (given)" if a.target is not None else f" (fixed final - {a.margin})"))
    print(
        f"time to target  fixed: {tf:.1f} s wall ({tc.loc['fixed', 'time_to_target']:.1f} s CPU), "
        f"epoch {t.loc['fixed', 'epoch']}"
    )
    print(
        f"time to target  progressive: {tp:.1f} s wall ({tc.loc['progressive', 'time_to_target']:.1f} s CPU), "
        f"epoch {t.loc['progressive', 'epoch']}"
    )
    print(f"ratio progressive/fixed: {ratio:.3f} wall, {cratio:.3f} CPU   (goal <= 0.6)")
    print(
        f"total training time ratio: {runs['progressive'].elapsed.iloc[-1] / runs['fixed'].elapsed.iloc[-1]:.3f} wall, "
        f"{runs['progressive'].cpu_elapsed.iloc[-1] / runs['fixed'].cpu_elapsed.iloc[-1]:.3f} CPU"
    )
    print(
        f"final accuracy  fixed: {acc_f:.3f}  progressive: {acc_p:.3f}  difference {acc_p - acc_f:+.3f} "
        f"(goal: within 0.01; one standard error of the difference with {n_valid} valid images: {se:.3f})"
    )
    ok_t = math.isfinite(ratio) and ratio <= 0.6
    ok_a, ok_b = abs(acc_p - acc_f) <= 0.01, acc_p >= acc_f - 0.01
    print(
        f"goal time <= 0.6x: {'MET' if ok_t else 'NOT MET'}; "
        f"final accuracy within 1 point (|difference| <= 0.01): {'MET' if ok_a else 'NOT MET'}; "
        f"progressive not worse by more than 1 point: {'MET' if ok_b else 'NOT MET'}"
    )
    hp = runs['progressive']
    small_cpu = hp.loc[hp['size'] == min(prog.sizes_used), 'cpu_train_time'].to_numpy()
    big_cpu = hp.loc[hp['size'] == prog.final_size, 'cpu_train_time'].mean()
    if len(small_cpu) >= 2 and big_cpu > 0:  # the cost model: an epoch cannot be cheaper than its pixels allow
        c = check_cost_model(small_cpu / big_cpu, (min(prog.sizes_used) / prog.final_size) ** 2)
        print(
            f"cost model (CPU per epoch, smallest vs final size): {'FLAGGED: ' + c['detail'] if c['verdict'] else 'no violation'}"
        )
    if abs(acc_p - acc_f) < 2 * se:
        print(
            f"note: the accuracy difference is within 2 standard errors ({2 * se:.3f}): not distinguishable from noise "
            "with this many validation images"
        )
    return dict(ratio=ratio, cpu_ratio=cratio, acc_fixed=acc_f, acc_progressive=acc_p, target=target)


if __name__ == '__main__':
    main()
