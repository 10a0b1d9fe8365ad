"""Tests for course_lib.resizing (lesson 3, progressive resizing; built in nbs/library/10_resizing.ipynb).

Schedule and batch-size mechanics use plain numbers; the callback, fit_schedule and evaluate_at_sizes run the
real Learner on a tiny subset of real Imagenette photographs from the data mirror."""

import pytest
import torch

from course_lib.core import load_settings
from course_lib.callbacks import Callback, combined_cos
from course_lib.learner import Learner, TrainingDiverged
from course_lib.models import resnet_scratch
from course_lib.resizing import (
    ProgressiveResizing,
    ScheduleError,
    SizeSchedule,
    bs_for_size,
    evaluate_at_sizes,
    fit_schedule,
    fixres_sizes,
    warm_up,
)


# ---------------------------------------------------------------- SizeSchedule semantics
def test_epoch_steps():
    s = SizeSchedule([(0, 64), (2, 96), (4, 128)])
    assert s.unit == 'epoch'
    assert s.sizes(6) == [64, 64, 96, 96, 128, 128]
    assert [s.size_at(e) for e in range(7)] == [64, 64, 96, 96, 128, 128, 128]  # open-ended without n_epochs
    assert s.final_size == 128 and s.sizes_used == [64, 96, 128] and len(s) == 3


def test_fraction_steps():
    s = SizeSchedule([(0, 64), (0.4, 96), (0.8, 128)])
    assert s.unit == 'fraction'
    assert s.sizes(5) == [64, 64, 96, 96, 128]  # epoch e starts at fraction e/5; 2/5 == 0.4 exactly
    assert s.sizes(10) == [64] * 4 + [96] * 4 + [128] * 2
    assert s.size_at(4, n_epochs=5) == 128


def test_even_and_fixed():
    assert SizeSchedule.even([64, 96, 128]).sizes(6) == [64, 64, 96, 96, 128, 128]
    assert SizeSchedule.even([64, 96, 128]).sizes(5) == [64, 64, 96, 96, 128]
    assert SizeSchedule.fixed(128).sizes(3) == [128] * 3
    assert SizeSchedule(SizeSchedule.fixed(96)) == SizeSchedule.fixed(96)


def test_relative_cost_is_pixel_fraction():
    s = SizeSchedule([(0, 64), (2, 128)])
    assert s.relative_cost(4) == pytest.approx((0.25 + 0.25 + 1 + 1) / 4)
    assert SizeSchedule.fixed(128).relative_cost(5) == 1.0
    assert SizeSchedule.fixed(64).relative_cost(5, ref_size=128) == 0.25


def test_repr_roundtrip():
    s = SizeSchedule([(0, 64), (0.5, 96)])
    assert repr(s) == 'SizeSchedule([(0, 64), (0.5, 96)])'
    assert eval(repr(s)) == s


@pytest.mark.parametrize(
    'steps, msg',
    [
        ([], 'at least one'),
        (5, 'list of (start, size) pairs'),
        ([(1, 64)], 'must start at 0'),
        ([(0, 64), (0, 96)], 'strictly increase'),
        ([(0, 64), (3, 96), (2, 128)], 'strictly increase'),
        ([(0, 96), (2, 64)], 'shrink'),
        ([(0, 64.0)], 'whole number of pixels'),
        ([(0, '64')], 'whole number of pixels'),
        ([(0, 8)], 'below the minimum'),
        ([(0, 64), (1.5, 96)], 'Fraction starts must lie in [0, 1)'),
        ([(0, 64), (1.0, 96)], 'Fraction starts must lie in [0, 1)'),
        ([(0, 64, 1)], '(start, size) pair'),
        ([('a', 64)], 'epoch number (int) or a fraction'),
        ([(0, 64), (-1, 96)], '>= 0'),
    ],
)
def test_schedule_errors(steps, msg):
    with pytest.raises(ScheduleError) as e:
        SizeSchedule(steps)
    assert msg in str(e.value)


def test_allow_shrink_and_min_size():
    assert SizeSchedule([(0, 96), (2, 64)], allow_shrink=True).sizes(3) == [96, 96, 64]
    assert SizeSchedule([(0, 8)], min_size=8).final_size == 8


def test_size_at_errors():
    frac = SizeSchedule([(0, 64), (0.5, 96)])
    with pytest.raises(ScheduleError, match='pass n_epochs'):
        frac.size_at(1)
    with pytest.raises(ScheduleError, match='past the end'):
        frac.size_at(4, n_epochs=4)
    with pytest.raises(ScheduleError, match='epoch must be an int'):
        frac.size_at(-1, n_epochs=4)
    with pytest.raises(ScheduleError, match='epoch must be an int'):
        frac.size_at(1.5, n_epochs=4)
    with pytest.raises(ScheduleError, match='positive int'):
        frac.sizes(0)
    # a step that no epoch reaches is an error, not a silently skipped final size
    with pytest.raises(ScheduleError, match='get no epoch'):
        SizeSchedule.even([64, 96, 128]).sizes(2)
    with pytest.raises(ScheduleError, match='get no epoch'):
        SizeSchedule([(0, 64), (5, 128)]).sizes(5)


# ---------------------------------------------------------------- batch size for size
def test_bs_for_size_keeps_pixels_per_batch():
    assert bs_for_size(128, 32, 128) == 32
    assert bs_for_size(64, 32, 128) == 128  # half the side -> 4x the images
    assert bs_for_size(96, 32, 128) == 56  # 32 * (128/96)**2 = 56.9 -> multiple of 8
    for size in (64, 80, 96, 112, 128):
        bs = bs_for_size(size, 32, 128, multiple=1)
        assert abs(bs * size**2 - 32 * 128**2) / (32 * 128**2) < 0.05
    assert bs_for_size(256, 32, 128) == 8  # clipped to min_bs
    assert bs_for_size(32, 32, 128, max_bs=100) == 100
    for bad in [dict(base_bs=0), dict(multiple=0), dict(base_bs=32.5), dict(max_bs=4)]:
        kw = dict(size=64, base_bs=32, base_size=128) | bad
        with pytest.raises(ScheduleError):
            bs_for_size(**kw)


def test_fixres_sizes():
    assert fixres_sizes(128) == [128, 144, 168]
    assert fixres_sizes(48, factors=(1.0, 1.25)) == [48, 64]


def test_callback_argument_errors():
    with pytest.raises(ScheduleError, match='bs_rule'):
        ProgressiveResizing([(0, 64)], bs_rule='constant')
    with pytest.raises(ScheduleError, match='valid_size'):
        ProgressiveResizing([(0, 64)], valid_size='last')
    with pytest.raises(ScheduleError, match='shrink'):
        ProgressiveResizing([(0, 96), (1, 64)])


# ---------------------------------------------------------------- the real Learner on real photographs
@pytest.fixture(scope='module')
def dls(tmp_path_factory):
    "2 train / 1 valid real Imagenette photographs per class (20 / 10 images), cached at 64 px, batch size 8."
    from course_lib.data import make_subset
    from course_lib.loaders import get_dls

    s = load_settings(env={'COURSE_SCALE': 'tiny'})
    sub = make_subset(
        'imagenette', 2, 1, split='clean', seed=0, out_dir=tmp_path_factory.mktemp('subsets'), settings=s, quiet=True
    )
    return get_dls(sub, 48, bs=8, settings=s, progress=False, device='cpu')


class ShapeRecorder(torch.nn.Module):
    "Wraps a model and records (training?, input shape) of every batch it sees."

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []
        self.body, self.head = model.body, model.head

    def forward(self, x):
        self.seen.append((self.training, tuple(x.shape)))
        return self.model(x)


class LRLog(Callback):
    "Records (pct_train, lr of the last param group, batch size, image size) at every training batch."

    order = 100  # after the ParamScheduler has set this batch's lr

    def __init__(self):
        self.rows = []

    def before_batch(self, learn):
        if learn.training:
            self.rows.append((learn.pct_train, learn.opt.param_groups[-1]['lr'], *learn.xb.shape[::2]))


def _model(n_classes):
    torch.manual_seed(0)
    return ShapeRecorder(resnet_scratch(n_classes, widths=(8, 16), blocks=(1, 1)))


def test_callback_changes_sizes_seen_by_model(dls):
    assert dls.train.n == 20 and dls.valid.n == 10
    m = _model(dls.n_classes)
    learn = fit_schedule(dls, [(0, 32), (1, 48)], 2, lr_max=1e-3, model=m, valid_size='train')
    train = [s for t, s in m.seen if t]
    assert [s[2:] for s in train] == [(32, 32)] * 3 + [(48, 48)] * 3  # 20 images, bs 8 -> 3 batches an epoch
    assert all(s[1] == 3 for s in train) and [s[0] for s in train[:3]] == [8, 8, 4]
    valid = sorted({s[2:] for t, s in m.seen if not t})
    assert valid == [(32, 32), (48, 48)]  # valid_size='train' follows
    h = learn.history
    assert h['size'].tolist() == [32, 48] and h['valid_size'].tolist() == [32, 48] and h['bs'].tolist() == [8, 8]
    assert {'cpu_elapsed', 'elapsed', 'accuracy'} <= set(h.columns) and h.cpu_elapsed.is_monotonic_increasing
    assert (dls.train.size, dls.train.bs, dls.valid.size) == (48, 8, 48)  # restored after the fit


def test_batch_size_changes_and_lr_follows_the_pct_schedule(dls):
    "bs_rule='pixels' changes the steps per epoch; the lr is the one-cycle curve of pct_train, nothing is rebuilt."
    m, log = _model(dls.n_classes), LRLog()
    # fractions: the callback reads the number of epochs from the Learner
    learn = fit_schedule(dls, [(0, 32), (0.5, 48)], 2, lr_max=1e-3, model=m, bs_rule='pixels', cbs=[log])
    train = [s for t, s in m.seen if t]
    # 8 * (48/32)**2 = 18 -> 16 at 32 px: 2 batches (16 + 4), then 8 at 48 px: 3 batches (8 + 8 + 4)
    assert train == [(16, 3, 32, 32), (4, 3, 32, 32), (8, 3, 48, 48), (8, 3, 48, 48), (4, 3, 48, 48)]
    assert {s[2:] for t, s in m.seen if not t} == {(48, 48)}  # valid_size='final'
    assert learn.history['bs'].tolist() == [16, 8] and learn.history['steps'].tolist() == [2, 3]
    # each epoch covers half of the schedule however many steps it has: pct = (epoch + iter / n_iter) / n_epochs
    pcts = [p for p, *_ in log.rows]
    assert pcts == pytest.approx([0, 1 / 4, 1 / 2, 1 / 2 + 1 / 6, 1 / 2 + 2 / 6])
    one_cycle = combined_cos(0.25, 1e-3 / 25, 1e-3, 1e-3 / 1e4)  # fit_one_cycle's defaults
    lrs = [lr for _, lr, *_ in log.rows]
    assert lrs == pytest.approx([one_cycle(p) for p in pcts], rel=1e-9)
    assert [step[-1] for step in learn.lrs] == pytest.approx(lrs, rel=1e-9)  # the lrs the optimiser stepped with
    # the peak is reached at pct_start and the fit ends annealing: the last step has the fit's lowest lr after the peak
    assert max(lrs) == pytest.approx(1e-3) and lrs[-1] == min(lrs[1:]) < 1e-3 / 5
    assert not any('sched' in k for k in vars(learn))  # no scheduler object to rebuild
    assert dls.train.bs == 8


def test_same_curve_whatever_the_batch_size(dls):
    "At the same fraction of training, runs with and without a batch-size rule use the same learning rate."
    logs = []
    for rule in (None, 'pixels'):
        log = LRLog()
        fit_schedule(dls, [(0, 32), (0.5, 48)], 2, lr_max=1e-3, model=_model(dls.n_classes), bs_rule=rule, cbs=[log])
        logs.append({round(p, 9): lr for p, lr, *_ in log.rows})
    fixed, pixels = logs  # 3 + 3 steps of 8 images; 2 steps of 16 at 32 px, then 3 of 8
    assert sorted(fixed) == pytest.approx([0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])
    assert sorted(pixels) == pytest.approx([0, 1 / 4, 3 / 6, 4 / 6, 5 / 6])
    assert all(fixed[p] == pixels[p] for p in set(fixed) & set(pixels)) and len(set(fixed) & set(pixels)) == 4


def test_loaders_restored_when_training_fails(dls):
    m = _model(dls.n_classes)
    with pytest.raises(TrainingDiverged):
        fit_schedule(dls, [(0, 32), (1, 40)], 2, lr_max=1e9, model=m, bs_rule='pixels')
    assert (dls.train.size, dls.train.bs, dls.valid.size) == (48, 8, 48)


def test_callback_alone_on_a_learner(dls):
    "ProgressiveResizing works in any Learner fit (here one passed to fit_one_cycle), and its log says what it set."
    cb = ProgressiveResizing(SizeSchedule.even([32, 40, 48]), valid_size=40)
    learn = Learner(_model(dls.n_classes), dls, progress=False)
    learn.fit_one_cycle(3, 1e-3, cbs=[cb])
    assert [r['size'] for r in cb.log] == [32, 40, 48] and {r['valid_size'] for r in cb.log} == {40}
    assert learn.history['size'].tolist() == [32, 40, 48] and learn.history['steps'].tolist() == [3, 3, 3]
    assert dls.valid.size == 48 and dls.train.size == 48


def test_bad_schedule_fails_before_training(dls):
    m = _model(dls.n_classes)
    with pytest.raises(ScheduleError, match='get no epoch'):
        fit_schedule(dls, SizeSchedule.even([32, 40, 48]), 2, model=m)
    assert m.seen == []  # nothing ran


def test_evaluate_at_sizes_real_images(dls):
    m = _model(dls.n_classes)
    learn = Learner(m, dls, progress=False)
    res = evaluate_at_sizes(learn, [32, 48, 64])
    assert list(res.columns) == ['size', 'loss', 'accuracy', 'seconds'] and res['size'].tolist() == [32, 48, 64]
    assert res.accuracy.between(0, 1).all() and (res.loss > 0).all()
    assert m.seen == [(False, (10, 3, n, n)) for n in (32, 48, 64)]  # 10 valid images, one batch (valid bs 16)
    assert dls.valid.size == 48  # restored
    dls.valid.size = 64
    try:
        direct = learn.validate()
    finally:
        dls.valid.size = 48
    assert direct['accuracy'] == res.accuracy.iloc[2] and direct['loss'] == pytest.approx(res.loss.iloc[2], rel=1e-5)
    with pytest.raises(ScheduleError):
        evaluate_at_sizes(learn, [])
    with pytest.raises(ScheduleError):
        evaluate_at_sizes(learn, [48.5])
    assert dls.valid.size == 48


def test_warm_up_puts_loaders_back(dls):
    before = (dls.train.size, dls.valid.size, dls.train.epoch, dls.valid.epoch)
    assert warm_up(dls, [32, 48], dict(widths=(8, 16), blocks=(1, 1))) > 0
    assert (dls.train.size, dls.valid.size, dls.train.epoch, dls.valid.epoch) == before


# ---------------------------------------------------------------- mixup, TTA, loss_func (lesson 3's other techniques)
def _tiny_learner(dls, **kw):
    torch.manual_seed(0)
    return Learner(resnet_scratch(dls.n_classes, widths=(8, 16), blocks=(1, 1)), dls, progress=False, **kw)


def test_mixup_blends_training_batches_only():
    from course_lib.loaders import synthetic_dls
    from course_lib.resizing import MixUp

    dls = synthetic_dls(n_train=64, n_valid=32, size=16, bs=16)
    seen = {}

    class Peek(Callback):
        order = 20

        def before_batch(self, learn):
            seen.setdefault('train' if learn.training else 'valid', learn.xb.clone())

    learn = _tiny_learner(dls)
    mix = MixUp(0.4, seed=0)
    learn.fit_one_cycle(1, 1e-3, cbs=[mix, Peek()])
    assert len(mix.lams) == len(dls.train) and all(0.5 <= lam <= 1 for lam in mix.lams)
    assert not torch.allclose(seen['train'], next(iter(dls.train))[0])  # the first batch was mixed
    assert torch.equal(seen['valid'], next(iter(dls.valid))[0])  # validation untouched
    assert isinstance(learn.loss_func, torch.nn.CrossEntropyLoss)  # restored
    again = MixUp(0.4, seed=0)
    _tiny_learner(dls).fit_one_cycle(1, 1e-3, cbs=[again])
    assert again.lams == mix.lams  # seeded
    with pytest.raises(ValueError, match='positive'):
        MixUp(0)


def test_mixup_loss_is_the_blend_of_two_losses():
    from course_lib.resizing import MixUp

    m = MixUp(1.0)
    m._loss, m._mix = torch.nn.CrossEntropyLoss(), (0.75, torch.tensor([1, 0]))
    out, y = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy
    assert m._mixed_loss(out, y).item() == pytest.approx(0.75 * ce(out, y).item() + 0.25 * ce(out, y.flip(0)).item())
    m._mix = None
    assert m._mixed_loss(out, y).item() == pytest.approx(ce(out, y).item())


def test_tta_accuracy_averages_image_and_mirror():
    from course_lib.loaders import synthetic_dls
    from course_lib.resizing import tta_accuracy

    dls = synthetic_dls(n_train=64, n_valid=32, size=16, bs=16)
    learn = _tiny_learner(dls)
    learn.fit_one_cycle(1, 1e-2)
    r = tta_accuracy(learn)
    assert r['n'] == 32 and r['plain'] == pytest.approx(learn.validate()['accuracy'])
    p, y = learn.get_preds()
    pm, _ = learn.get_preds((x.flip(-1), yb) for x, yb in dls.valid)
    assert r['tta'] == pytest.approx(((p + pm).argmax(1) == y).float().mean().item())


def test_fit_schedule_takes_a_loss_function(dls):
    loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    learn = fit_schedule(dls, 32, 1, model=resnet_scratch(dls.n_classes, widths=(8, 16), blocks=(1, 1)), loss_func=loss)
    assert learn.loss_func is loss and (learn.history.cpu_train_time > 0).all()
