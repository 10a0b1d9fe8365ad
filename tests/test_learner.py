"Learner: events and their order, cancels, schedules by progress, epochs, freezing, discriminative LRs, determinism, NaN stop, checkpoints."

import math

import numpy as np
import pytest
import torch

from course_lib.core import seed_everything
from course_lib.learner import (
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelTrainException,
    CancelValidException,
    Learner,
    TrainingDiverged,
    combined_cos,
)
from course_lib.loaders import synthetic_dls
from course_lib.models import WeightsMappingError, resnet_scratch


def tiny_model(n_classes=4):
    return resnet_scratch(n_classes, widths=(8, 16), blocks=(1, 1))


def make_learner(seed=0, **kw):
    seed_everything(seed)
    dls = synthetic_dls(seed=seed)
    return Learner(tiny_model(dls.n_classes), dls, progress=False, **kw)


class Log(Callback):
    "Writes (name, event, learn.training) for every event it sees."

    def __init__(self, log, name='L', order=0):
        self.log, self.name, self.order = log, name, order

    def __getattr__(self, event):
        if event.startswith(('before_', 'after_', 'cleanup_')):
            return lambda learn: self.log.append((self.name, event, learn.training))
        raise AttributeError(event)


def test_freeze_really_freezes_body_and_its_batchnorm_stats():
    learn = make_learner()
    body0 = {k: v.clone() for k, v in learn.model.body.state_dict().items()}
    head0 = [p.clone() for p in learn.model.head.parameters()]
    learn.freeze()
    assert all(not p.requires_grad for p in learn.model.body.parameters())
    learn.fit_one_cycle(1, 1e-2)
    for k, v in learn.model.body.state_dict().items():
        assert torch.equal(v, body0[k]), k  # weights AND running stats
    assert any(not torch.equal(a, b) for a, b in zip(head0, learn.model.head.parameters()))
    assert [g['name'] for g in learn.opt.param_groups] == ['head']
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())
    learn.fit_one_cycle(1, 1e-2)
    assert any(not torch.equal(v, body0[k]) for k, v in learn.model.body.state_dict().items())


def test_bn_eval_trains_weights_but_keeps_batchnorm_statistics():
    learn = make_learner(bn_eval=True)
    stats0 = {k: v.clone() for k, v in learn.model.body.state_dict().items() if 'running' in k}
    w0 = [p.clone() for p in learn.model.body.parameters()]
    learn.fit_one_cycle(1, 1e-2)
    assert all(torch.equal(learn.model.body.state_dict()[k], v) for k, v in stats0.items())
    assert any(not torch.equal(a, b) for a, b in zip(w0, learn.model.body.parameters()))


def test_discriminative_lrs_make_body_and_head_groups():
    learn = make_learner()
    learn.fit_one_cycle(2, slice(1e-4, 1e-2))
    g = learn.opt.param_groups
    assert [x['name'] for x in g] == ['body', 'head']
    assert {id(p) for p in g[0]['params']} == {id(p) for p in learn.model.body.parameters()}
    assert {id(p) for p in g[1]['params']} == {id(p) for p in learn.model.head.parameters()}
    lrs = np.array(learn.lrs)
    assert math.isclose(lrs[:, 0].max(), 1e-4, rel_tol=1e-3) and math.isclose(lrs[:, 1].max(), 1e-2, rel_tol=1e-3)
    assert np.allclose(lrs[:, 1] / lrs[:, 0], 100)
    assert [x['name'] for x in learn.param_groups(slice(None, 1e-2))] == ['body', 'head']
    assert [x['lr'] for x in learn.param_groups(slice(None, 1e-2))] == [1e-3, 1e-2]  # body at hi / 10


def test_one_cycle_schedule_shape():
    learn = make_learner()
    learn.fit_one_cycle(4, 1e-2, pct_start=0.25)
    lrs = np.array(learn.lrs)[:, 0]
    n = len(lrs)
    peak = int(np.argmax(lrs))
    assert n == 4 * len(learn.dls.train)
    assert math.isclose(lrs[0], 1e-2 / 25, rel_tol=1e-3)  # warm-up starts at lr_max/div
    assert abs(peak - 0.25 * n) <= 1 and math.isclose(lrs.max(), 1e-2, rel_tol=1e-3)
    assert np.all(np.diff(lrs[: peak + 1]) >= 0) and np.all(np.diff(lrs[peak:]) <= 0)
    # each step gets the schedule at the fraction of training done when it starts (fastai's pct_train), so the
    # last of 16 steps (pct 15/16) is near the end value lr_max/div_final, which the schedule reaches at pct 1
    sched = combined_cos(0.25, 1e-2 / 25, 1e-2, 1e-2 / 1e4)
    assert lrs[-1] < 1e-2 / 50 and math.isclose(lrs[-1], sched((n - 1) / n)) and math.isclose(sched(1.0), 1e-6)


def test_schedule_is_the_function_of_pct_at_given_fractions():
    "The lr of each step is the schedule at pct_train = (epoch + iter / n_iter) / n_epochs; momentum mirrors it."
    learn = make_learner()
    seen = []

    class Spy(Callback):
        order = 10  # after the ParamSchedulers (order 0) have set this batch's values

        def before_batch(self, learn):
            if learn.training:
                g = learn.opt.param_groups[0]
                seen.append((learn.pct_train, g['lr'], g['betas'][0]))

    learn.fit_one_cycle(2, 1e-2, pct_start=0.3, cbs=[Spy()])
    n_iter = len(learn.dls.train)
    assert [p for p, _, _ in seen] == [(e + i / n_iter) / 2 for e in range(2) for i in range(n_iter)]
    lr, mom = combined_cos(0.3, 1e-2 / 25, 1e-2, 1e-6), combined_cos(0.3, 0.95, 0.85, 0.95)
    for pct, got_lr, got_mom in seen:
        assert math.isclose(got_lr, lr(pct)) and math.isclose(got_mom, mom(pct))
    assert math.isclose(lr(0.3), 1e-2) and math.isclose(mom(0.3), 0.85) and math.isclose(lr(0.0), 4e-4)


def test_schedule_needs_no_rebuild_when_the_batch_size_changes():
    "Halving the batch size after epoch 0 doubles the steps of epoch 1; every step still follows the schedule."
    learn = make_learner()

    class BatchSize(Callback):
        def before_epoch(self, learn):
            learn.dls.train.bs = 16 if learn.epoch == 0 else 8

    learn.fit_one_cycle(2, 1e-2, cbs=[BatchSize()])
    pcts = [i / 4 / 2 for i in range(4)] + [(1 + i / 8) / 2 for i in range(8)]
    sched = combined_cos(0.25, 1e-2 / 25, 1e-2, 1e-6)
    assert np.allclose(np.array(learn.lrs)[:, 0], [sched(p) for p in pcts])
    assert len(learn.lrs) == 12


def test_very_short_fits_work():
    "One batch per epoch (tiny data): the schedule needs no minimum number of steps."
    seed_everything(0)
    d = synthetic_dls(n_train=8, n_valid=8, bs=8)
    learn = Learner(tiny_model(), d, progress=False)
    for n in (1, 2, 3):
        h = learn.fit_one_cycle(n, 1e-3)
        assert len(h) == n and len(learn.lrs) == n
    assert learn.epochs_done == 6 and learn.n_fits == 3


def test_same_seed_same_history_on_cpu():
    h1 = make_learner(seed=3).fit_one_cycle(2, 3e-3)
    h2 = make_learner(seed=3).fit_one_cycle(2, 3e-3)
    h3 = make_learner(seed=4).fit_one_cycle(2, 3e-3)
    for c in ('train_loss', 'valid_loss', 'accuracy'):
        assert h1[c].tolist() == h2[c].tolist()
    assert h1['train_loss'].tolist() != h3['train_loss'].tolist()


def test_nan_loss_raises_training_diverged():
    dls = synthetic_dls()
    dls.train.x[5] = float('nan')
    learn = Learner(tiny_model(), dls, progress=False)
    with pytest.raises(TrainingDiverged, match='learning rate'):
        learn.fit_one_cycle(1, 1e-3)
    assert isinstance(TrainingDiverged('x'), RuntimeError)


def test_history_columns_callbacks_and_time_budget():
    class CB(Callback):
        def __init__(self):
            self.calls = []

        def before_fit(self, learn):
            self.calls.append('before_fit')

        def before_epoch(self, learn):
            self.calls.append(f'epoch{learn.epoch}')

        def after_epoch(self, learn):
            learn.row['size'] = 16 + learn.epoch

        def after_fit(self, learn):
            self.calls.append('after_fit')

    cb = CB()
    learn = make_learner(cbs=[cb])
    h = learn.fit_one_cycle(2, 1e-3)
    assert {'epoch', 'train_loss', 'valid_loss', 'accuracy', 'epoch_time', 'elapsed', 'size'} <= set(h.columns)
    assert {'train_time', 'train_elapsed', 'fit', 'lr', 'frozen'} <= set(h.columns)
    assert h['size'].tolist() == [16, 17] and cb.calls == ['before_fit', 'epoch0', 'epoch1', 'after_fit']
    assert h['elapsed'].is_monotonic_increasing
    learn.fit_one_cycle(1, 1e-3)
    assert len(learn.history) == 3 and learn.history['elapsed'].is_monotonic_increasing
    assert learn.history['fit'].tolist() == [0, 0, 1]
    # a tiny time budget stops after the first batch, but the epoch is still validated
    learn2 = make_learner()
    h = learn2.fit_one_cycle(50, 1e-3, time_budget=1e-6)
    assert len(h) == 1 and len(learn2.lrs) == 1 and 0 <= h['accuracy'].iloc[0] <= 1


def test_callbacks_run_by_order_and_see_every_event():
    log = []
    learn = make_learner(cbs=[Log(log, 'late', order=5), Log(log, 'early', order=-5)])
    learn.fit(1, 1e-3, cbs=[Log(log, 'mid', order=0)])  # a callback for this fit only
    names = [n for n, _, _ in log]
    assert names[:3] == ['early', 'mid', 'late'] and names.count('early') == names.count('mid')
    events = [e for n, e, _ in log if n == 'early']
    batch = ['before_batch', 'after_loss', 'after_step', 'after_batch']
    n_train, n_valid = len(learn.dls.train), len(learn.dls.valid)
    expected = (
        ['before_fit', 'before_epoch', 'before_train']
        + batch * n_train
        + ['after_train', 'before_validate']
        + ['before_batch', 'after_loss', 'after_batch'] * n_valid  # no step while validating
        + ['after_validate', 'after_epoch', 'after_fit', 'cleanup_fit']
    )
    assert events == expected
    training = [t for n, e, t in log if n == 'early' and e == 'before_batch']
    assert training == [True] * n_train + [False] * n_valid
    log.clear()
    learn.fit(1, 1e-3)
    assert {n for n, _, _ in log} == {'early', 'late'}  # the fit-only callback is gone


def run_cancelling(exc, where='before_batch', training=True, at_iter=1, n_epochs=2):
    log = []

    class Cancel(Callback):
        order = -1

    def raise_it(learn):
        if learn.training == training and getattr(learn, 'iter', 0) == at_iter:
            raise exc()

    cb = Cancel()
    setattr(cb, where, raise_it)
    learn = make_learner(cbs=[cb, Log(log)])
    learn.fit(n_epochs, 1e-3)
    return learn, [e for _, e, _ in log]


def test_cancel_batch_skips_the_rest_of_that_batch_only():
    learn, ev = run_cancelling(CancelBatchException, 'after_loss')
    n_train = len(learn.dls.train)
    assert ev.count('after_step') == 2 * (n_train - 1) and len(learn.lrs) == 2 * (n_train - 1)  # no step for it
    assert ev.count('after_batch') == ev.count('before_batch')  # after_batch still runs for the cancelled batch
    assert ev.count('after_loss') == ev.count('before_batch') - 2  # Log runs after the cancelling callback
    assert len(learn.history) == 2


def test_cancel_train_ends_the_pass_but_validates():
    learn, ev = run_cancelling(CancelTrainException)
    assert ev.count('after_step') == 2 and ev.count('after_train') == 2  # batch 0 of each epoch, then after_train
    assert ev.count('after_validate') == 2 and learn.history['accuracy'].notna().all()
    assert learn.epochs_done == 2


def test_cancel_valid_skips_validation_and_records_no_accuracy():
    learn, ev = run_cancelling(CancelValidException, training=False, at_iter=0)
    assert ev.count('after_validate') == 2 and ev.count('after_epoch') == 2
    assert learn.history['accuracy'].isna().all() and learn.history['train_loss'].notna().all()


def test_cancel_epoch_skips_the_rest_and_goes_to_the_next_epoch():
    learn, ev = run_cancelling(CancelEpochException)
    assert ev.count('after_step') == 2 and ev.count('before_validate') == 0 and ev.count('after_train') == 0
    assert ev.count('after_epoch') == 2 and len(learn.history) == 2 and learn.history['accuracy'].isna().all()
    assert learn.epochs_done == 2  # the started training passes count: the next fit gets fresh epochs


def test_cancel_fit_ends_at_once_but_after_fit_runs():
    learn, ev = run_cancelling(CancelFitException)
    assert ev.count('after_step') == 1 and ev.count('after_epoch') == 0 and ev[-2:] == ['after_fit', 'cleanup_fit']
    assert len(learn.history) == 0 and learn.epochs_done == 1

    class StopAfterFirstEpoch(Callback):
        order = -1

        def after_epoch(self, learn):
            raise CancelFitException()

    log = []
    learn = make_learner(cbs=[StopAfterFirstEpoch(), Log(log)])
    learn.fit(3, 1e-3)
    ev = [e for _, e, _ in log]
    # raised from after_epoch: that epoch's row is still recorded, and no other epoch starts
    assert len(learn.history) == 1 and ev.count('before_epoch') == 1 and ev[-2:] == ['after_fit', 'cleanup_fit']


def test_errors_are_not_swallowed_but_cleanup_fit_runs():
    log = []

    class Boom(Callback):
        def after_loss(self, learn):
            raise KeyError('boom')

    learn = make_learner(cbs=[Boom(), Log(log)])
    with pytest.raises(KeyError):
        learn.fit(1, 1e-3)
    events = [e for _, e, _ in log]
    assert events[-1] == 'cleanup_fit' and 'after_fit' not in events
    with pytest.raises(CancelValidException):  # a cancel raised at the wrong level is an error too
        run_cancelling(CancelValidException, training=True)


def test_the_learner_tells_the_loader_its_epoch_across_fits():
    seen = []

    class Epochs(Callback):
        def before_batch(self, learn):
            if learn.training and learn.iter == 0:
                seen.append((learn.epochs_done, learn.dls.train.epoch))

    learn = make_learner(cbs=[Epochs()])
    learn.fit_one_cycle(2, 1e-3)
    learn.fit_one_cycle(1, 1e-3)
    assert seen == [(0, 0), (1, 1), (2, 2)] and learn.epochs_done == 3


def test_probing_before_fit_does_not_change_the_training():
    "lr_find and estimate_epoch_time before a fit leave weights, optimiser and epochs alone: same history."

    def history(probe):
        learn = make_learner(seed=1)
        if probe:
            learn.lr_find(num_it=12, plot=False)  # 12 steps: 3 passes over the 4 training batches
            learn.estimate_epoch_time(n_batches=5)
            list(learn.dls.train)
        return learn.fit_one_cycle(2, 3e-3)[['train_loss', 'valid_loss', 'accuracy']]

    assert history(True).equals(history(False))


def test_show_batch_before_fit_does_not_change_the_training(tmp_path, tiny_settings):
    "Looking at a batch of real images, then training, gives the history of training without looking."
    import matplotlib

    matplotlib.use('Agg')
    from course_lib.data import make_subset
    from course_lib.loaders import get_dls, show_batch

    sub = make_subset('imagenette', 3, 2, split='clean', out_dir=tmp_path, quiet=True, settings=tiny_settings)

    def history(look):
        seed_everything(0)
        dls = get_dls(sub, 32, bs=8, cache_size=64, device='cpu', settings=tiny_settings, progress=False)
        if look:
            show_batch(dls, n=8)
        return Learner(tiny_model(10), dls, progress=False).fit_one_cycle(2, 3e-3)[['train_loss', 'accuracy']]

    assert history(True).equals(history(False))


def test_lr_find_restores_weights_optimiser_and_epoch_and_suggests():
    learn = make_learner()
    learn.fit_one_cycle(1, 1e-3)
    w0 = {k: v.clone() for k, v in learn.model.state_dict().items()}
    opt0, epoch0 = learn.opt, learn.dls.train.epoch
    state0 = {k: v.clone() for k, v in learn.opt.state_dict()['state'][0].items()}
    r = learn.lr_find(num_it=30, plot=False)
    assert all(torch.equal(v, w0[k]) for k, v in learn.model.state_dict().items())
    assert learn.opt is opt0 and all(torch.equal(v, state0[k]) for k, v in learn.opt.state_dict()['state'][0].items())
    assert learn.dls.train.epoch == epoch0
    assert np.all(np.diff(r.lrs) > 0) and len(r.lrs) == len(r.losses) >= 3
    assert r.lrs[0] <= r.suggestion <= r.lrs[-1]


def test_estimate_epoch_time_is_a_method_that_changes_nothing():
    learn = make_learner()
    w0 = {k: v.clone() for k, v in learn.model.state_dict().items()}
    t = learn.estimate_epoch_time(n_batches=2)
    assert t > 0 and learn.opt is None and learn.dls.train.epoch == 0
    assert all(torch.equal(v, w0[k]) for k, v in learn.model.state_dict().items())  # BatchNorm statistics too


def test_validate_and_get_preds_agree_and_keep_the_training_mode():
    learn = make_learner()
    p, y, losses = learn.get_preds(with_loss=True)
    v = learn.validate()
    assert math.isclose(v['accuracy'], (p.argmax(1) == y).float().mean().item())
    assert math.isclose(v['loss'], losses.mean().item(), rel_tol=1e-5)
    learn.freeze().set_train_mode()
    learn.validate()
    assert learn.model.training and not learn.model.body.training  # frozen body stays in eval mode
    assert learn.amp_dtype is None and not learn.is_cuda  # mixed precision only on CUDA


def test_save_load_round_trip(tmp_path):
    learn = make_learner()
    learn.fit_one_cycle(1, 1e-2)
    p0, _ = learn.get_preds()
    learn.save(tmp_path / 'ck.pth')
    seed_everything(9)
    other = Learner(tiny_model(), learn.dls, progress=False)
    p_other, _ = other.get_preds()
    assert not torch.allclose(p0, p_other)
    other.load(tmp_path / 'ck.pth')
    p1, _ = other.get_preds()
    assert torch.equal(p0, p1) and other.history.equals(learn.history) and other.epochs_done == learn.epochs_done
    wrong = Learner(resnet_scratch(4, widths=(8, 32), blocks=(1, 1)), learn.dls, progress=False)
    with pytest.raises(WeightsMappingError, match='does not fit'):
        wrong.load(tmp_path / 'ck.pth')
    with pytest.raises(FileNotFoundError):
        wrong.load(tmp_path / 'nope.pth')
    assert [p.name for p in tmp_path.iterdir()] == ['ck.pth']  # written atomically: no temporary file left


def test_save_load_keeps_the_frozen_state(tmp_path):
    "A frozen learner saved and loaded is frozen again: only the head is trainable, the body's BN stays in eval."
    pre = Learner(tiny_model(), synthetic_dls(), progress=False)
    pre.freeze()
    pre.fit_one_cycle(1, 1e-2)
    pre.save(tmp_path / 'frozen.pth')
    other = Learner(tiny_model(), pre.dls, progress=False)
    assert all(p.requires_grad for p in other.model.parameters())
    other.load(tmp_path / 'frozen.pth')
    assert other.frozen
    assert not any(p.requires_grad for p in other.body.parameters())
    assert all(p.requires_grad for p in other.model.head.parameters())
    # and an unfrozen checkpoint makes a frozen learner trainable again
    pre.unfreeze()
    pre.save(tmp_path / 'unfrozen.pth')
    other.load(tmp_path / 'unfrozen.pth')
    assert not other.frozen and all(p.requires_grad for p in other.model.parameters())


def test_bad_arguments():
    learn = make_learner()
    with pytest.raises(ValueError, match='n_epochs'):
        learn.fit(0)
    with pytest.raises(ValueError, match='needs hi'):
        learn.param_groups(slice(1e-3, None))
    with pytest.raises(ValueError, match='nothing to train'):
        Learner(torch.nn.Linear(2, 2).requires_grad_(False), learn.dls, progress=False).fit(1)
    with pytest.raises(AttributeError, match='body'):
        Learner(torch.nn.Linear(2, 2), learn.dls, progress=False).freeze()
