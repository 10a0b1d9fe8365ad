"Learner: freezing, discriminative LRs, one-cycle, determinism, NaN stop, checkpoints, callbacks, real-image fits."

import math

import numpy as np
import pytest
import torch

from course_lib.core import seed_everything
from course_lib.learner import (
    Learner,
    TrainingDiverged,
    WeightsMappingError,
    TensorDataLoader,
    synthetic_dls,
    resnet_scratch,
    pretrained_model,
    features_dls,
    confusion_matrix,
    plot_top_losses,
    lite0_zero_shot,
)


def tiny_model(n_classes=4):
    return resnet_scratch(n_classes, widths=(8, 16), blocks=(1, 1))


def make_learner(seed=0, **kw):
    seed_everything(seed)
    dls = synthetic_dls(seed=seed)
    return Learner(tiny_model(dls.n_classes), dls, progress=False, **kw)


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
    assert lrs[-1] < 1e-2 / 1e3  # anneals to (almost) zero


def test_very_short_fits_work():
    "One batch per epoch (tiny data): OneCycleLR cannot make two phases of one step; the schedule falls back to constant."
    seed_everything(0)
    d = synthetic_dls(n_train=8, n_valid=8, bs=8)
    learn = Learner(tiny_model(), d, progress=False)
    for n in (1, 2, 3):
        h = learn.fit_one_cycle(n, 1e-3)
        assert len(h) == n and len(learn.lrs) == n


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
    class CB:
        def __init__(self):
            self.calls = []

        def before_fit(self, learn):
            self.calls.append('before_fit')

        def before_epoch(self, learn, epoch):
            self.calls.append(f'epoch{epoch}')

        def after_epoch(self, learn, epoch, row):
            row['size'] = 16 + epoch

        def after_fit(self, learn):
            self.calls.append('after_fit')

    cb = CB()
    learn = make_learner(cbs=[cb])
    h = learn.fit_one_cycle(2, 1e-3)
    assert {'epoch', 'train_loss', 'valid_loss', 'accuracy', 'epoch_time', 'elapsed', 'size'} <= set(h.columns)
    assert h['size'].tolist() == [16, 17] and cb.calls == ['before_fit', 'epoch0', 'epoch1', 'after_fit']
    assert h['elapsed'].is_monotonic_increasing
    learn.fit_one_cycle(1, 1e-3)
    assert len(learn.history) == 3 and learn.history['elapsed'].is_monotonic_increasing
    # a tiny time budget stops after the first batch, but the epoch is still validated
    learn2 = make_learner()
    h = learn2.fit_one_cycle(50, 1e-3, time_budget=1e-6)
    assert len(h) == 1 and len(learn2.lrs) == 1 and 0 <= h['accuracy'].iloc[0] <= 1


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
    assert torch.equal(p0, p1) and other.history.equals(learn.history)
    wrong = Learner(resnet_scratch(4, widths=(8, 32), blocks=(1, 1)), learn.dls, progress=False)
    with pytest.raises(WeightsMappingError, match='does not fit'):
        wrong.load(tmp_path / 'ck.pth')
    with pytest.raises(FileNotFoundError):
        wrong.load(tmp_path / 'nope.pth')


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


def test_tensor_loader_shuffle_follows_its_seed():
    x, y = torch.arange(100).float().view(100, 1), torch.arange(100)

    def order(seed, epochs=2):
        dl = TensorDataLoader(x, y, bs=100, shuffle=True, seed=seed)
        return [next(iter(dl))[1].tolist() for _ in range(epochs)]

    a, a2, b = order(0), order(0), order(1)
    assert a == a2  # one seed: the same orders, epoch by epoch
    assert a[0] != b[0] and a[1] != b[1]  # another seed: other orders
    assert a[0] != a[1]  # and each epoch its own order
    assert sorted(a[0]) == list(range(100))
    assert next(iter(TensorDataLoader(x, y, bs=100, shuffle=False, seed=3)))[1].tolist() == list(range(100))


def test_lr_find_restores_weights_and_suggests():
    learn = make_learner()
    w0 = {k: v.clone() for k, v in learn.model.state_dict().items()}
    r = learn.lr_find(num_it=30, plot=False)
    assert all(torch.equal(v, w0[k]) for k, v in learn.model.state_dict().items())
    assert np.all(np.diff(r.lrs) > 0) and len(r.lrs) == len(r.losses) >= 3
    assert r.lrs[0] <= r.suggestion <= r.lrs[-1]


# --- real photographs -------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def real_dls(tmp_path_factory):
    from course_lib.data import make_subset, get_dls
    from course_lib.learner import LITE0_STATS

    s = make_subset('imagenette', 10, 5, split='clean', out_dir=tmp_path_factory.mktemp('subsets'), quiet=True)
    mean, std = LITE0_STATS
    return get_dls(s, 64, bs=32, mean=mean, std=std, cache_size=64, device='cpu', progress=False)


def test_short_real_image_fit_beats_chance(real_dls):
    "A linear probe on Lite0 features of 100 real Imagenette photos, tested on 50 clean ones: far above 10 % chance."
    seed_everything(0)
    model = pretrained_model('efficientnet_lite0', real_dls.n_classes)
    learn = Learner(model, real_dls, progress=False).freeze()
    fdls = features_dls(model.body, real_dls)
    probe = Learner(model.head, fdls, progress=False)
    before = probe.validate()['accuracy']
    h = probe.fit_one_cycle(10, 1e-2)
    assert h['accuracy'].iloc[-1] >= 0.5 and h['accuracy'].iloc[-1] > before + 0.2, (before, h)
    # the head trained on features is the model's head: same accuracy end to end on the images
    p, y = learn.get_preds()
    assert abs((p.argmax(1) == y).float().mean().item() - h['accuracy'].iloc[-1]) < 1e-6
    cm = confusion_matrix(learn, preds=(p, y))
    assert cm.shape == (10, 10) and cm.sum() == real_dls.valid.n and np.trace(cm) == (p.argmax(1) == y).sum().item()


def test_plots_on_real_images(real_dls):
    import matplotlib

    matplotlib.use('Agg')
    learn = Learner(lite0_zero_shot(real_dls.classes), real_dls, progress=False)
    acc = learn.validate()['accuracy']
    assert acc >= 0.6, acc  # Lite0's own head, 10 logits kept, at only 64 px
    df = plot_top_losses(learn, 4)
    assert len(df) == 4 and df['loss'].is_monotonic_decreasing
    assert set(df['actual']) <= set(real_dls.class_names)
