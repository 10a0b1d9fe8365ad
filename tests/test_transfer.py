"Transfer recipes on real photographs: features once, zero-shot, linear probe, budgets, fine-tuning, from scratch."

import numpy as np
import pytest
import torch

from course_lib.core import seed_everything
from course_lib.interpret import confusion_matrix
from course_lib.learner import Learner
from course_lib.loaders import DataLoaders, synthetic_dls
from course_lib.models import LITE0_STATS, ImageNetSubsetHead, load_lite0_imagenet, pretrained_model, resnet_scratch
from course_lib.transfer import (
    compute_features,
    correct,
    difference_interval,
    features_dls,
    fine_tune,
    fit_for_budget,
    linear_probe,
    mean_interval,
    train_scratch,
    unfreeze_last,
    zero_shot,
)


@pytest.fixture(scope='module')
def real_dls(tmp_path_factory, mirror):
    from course_lib.data import make_subset
    from course_lib.loaders import get_dls

    s = make_subset('imagenette', 10, 5, split='clean', out_dir=tmp_path_factory.mktemp('subsets'), quiet=True)
    mean, std = LITE0_STATS
    return get_dls(s, 64, bs=32, mean=mean, std=std, cache_size=64, device='cpu', progress=False, augment=False)


def test_short_real_image_fit_beats_chance(real_dls):
    "A linear probe on Lite0 features of 100 real Imagenette photos, tested on 50 clean ones: far above 10 % chance."
    seed_everything(0)
    model = pretrained_model('efficientnet_lite0', real_dls.n_classes)
    learn = Learner(model, real_dls, progress=False).freeze()
    fdls = features_dls(model.body, real_dls)
    assert isinstance(fdls, DataLoaders) and fdls.classes == real_dls.classes and set(fdls.times) == {'train', 'valid'}
    probe = Learner(model.head, fdls, progress=False)
    before = probe.validate()['accuracy']
    h = probe.fit_one_cycle(10, 1e-2)
    assert h['accuracy'].iloc[-1] >= 0.5 and h['accuracy'].iloc[-1] > before + 0.2, (before, h)
    # the head trained on features is the model's head: same accuracy end to end on the images
    p, y = learn.get_preds()
    assert abs((p.argmax(1) == y).float().mean().item() - h['accuracy'].iloc[-1]) < 1e-6
    cm = confusion_matrix(learn, preds=(p, y))
    assert cm.shape == (10, 10) and cm.sum() == real_dls.valid.n and np.trace(cm) == (p.argmax(1) == y).sum().item()


def test_zero_shot_on_images_equals_zero_shot_on_features(real_dls):
    base = load_lite0_imagenet()
    on_images = zero_shot(real_dls, base=base)
    body = pretrained_model('efficientnet_lite0', 10).body
    fdls = features_dls(body, real_dls)
    on_features = Learner(ImageNetSubsetHead(base.classifier, real_dls.classes), fdls, progress=False).validate()
    assert abs(on_images['accuracy'] - on_features['accuracy']) < 1e-6 and on_images['accuracy'] >= 0.6


def test_linear_probe_recipe(real_dls):
    seed_everything(0)
    learn, info = linear_probe(pretrained_model('efficientnet_lite0', 10), real_dls, epochs=10, lr=1e-2)
    assert learn.frozen and info['accuracy'] >= 0.5 and info['train_images'] == real_dls.train.n
    assert info['time'] == info['feature_time'] + info['head_time']
    assert abs(learn.validate()['accuracy'] - info['accuracy']) < 1e-6


def test_compute_features_shapes():
    d = synthetic_dls()
    body = resnet_scratch(4, widths=(8, 16), blocks=(1, 1)).body
    x, y = compute_features(body, d.valid)
    assert x.shape == (d.valid.n, 16) and y.tolist() == d.valid.y.tolist()


def test_fit_for_budget_fits_whole_schedules_and_stops():
    seed_everything(0)
    learn = Learner(resnet_scratch(4, widths=(8, 16), blocks=(1, 1)), synthetic_dls(), progress=False)
    h = fit_for_budget(learn, 1e-6, 1e-3, max_epochs=5)
    assert len(h) == 1  # the hard stop: one batch, then validated
    h = fit_for_budget(learn, 1e9, 1e-3, max_epochs=3)
    assert len(h) == 3 and learn.epochs_done == 4  # a huge budget: max_epochs


@pytest.mark.slow
def test_fine_tune_and_train_scratch_recipes(real_dls):
    seed_everything(0)
    ft = fine_tune(pretrained_model('efficientnet_lite0', 10), real_dls, 2.0)
    assert ft.bn_eval and [g['name'] for g in ft.opt.param_groups] == ['body', 'head']
    scr = train_scratch(real_dls, 2.0, widths=(8, 16), blocks=(1, 1))
    assert scr.model.name == 'resnet_scratch'
    for learn in (ft, scr):
        t = learn.history['train_time'].sum()
        per_step = t / len(learn.lrs)
        assert t <= 2.0 + 2 * per_step + 0.5, (t, per_step)  # the hard stop comes after the current batch


def _trainable(model):
    return {n for n, p in model.body.named_parameters() if p.requires_grad}


def test_unfreeze_last_trains_only_the_last_stages():
    m = pretrained_model('efficientnet_lite0', 10, pretrained=False)
    unfreeze_last(m, 2)
    names = _trainable(m)
    assert names and all(n.startswith(('blocks.5.', 'blocks.6.', 'conv_head.', 'bn2.')) for n in names)
    assert any(n.startswith('blocks.5.') for n in names) and 'conv_head.weight' in names
    assert not m.body.conv_stem.weight.requires_grad and all(p.requires_grad for p in m.head.parameters())
    unfreeze_last(m, 0)
    assert _trainable(m) == set() and all(p.requires_grad for p in m.head.parameters())
    unfreeze_last(m, None)
    assert all(p.requires_grad for p in m.parameters())
    with pytest.raises(ValueError):
        unfreeze_last(m, 8)
    with pytest.raises(ValueError):
        unfreeze_last(resnet_scratch(4, widths=(8, 16), blocks=(1, 1)), 1)


def test_fine_tune_for_epochs_trains_only_what_last_says():
    seed_everything(0)
    d = synthetic_dls(n_classes=10, size=32)
    m = pretrained_model('efficientnet_lite0', 10, pretrained=False)
    before = m.body.conv_stem.weight.detach().clone(), m.body.conv_head.weight.detach().clone()
    learn = fine_tune(m, d, epochs=2, lr=slice(1e-3, 1e-2), last=1)
    assert len(learn.history) == 2 and [g['name'] for g in learn.opt.param_groups] == ['body', 'head']
    n_body = sum(p.numel() for g in learn.opt.param_groups if g['name'] == 'body' for p in g['params'])
    parts = (m.body.blocks[-1], m.body.conv_head, m.body.bn2)
    assert n_body == sum(p.numel() for part in parts for p in part.parameters())
    assert torch.equal(m.body.conv_stem.weight, before[0]) and not torch.equal(m.body.conv_head.weight, before[1])
    for kw in (dict(), dict(epochs=1, budget=1.0)):
        with pytest.raises(ValueError):
            fine_tune(m, d, **kw)


def test_train_scratch_lite0_has_random_weights():
    seed_everything(0)
    d = synthetic_dls(n_classes=4, size=32)
    learn = train_scratch(d, 0.5, arch='efficientnet_lite0')
    assert learn.model.name == 'efficientnet_lite0' and len(learn.history) >= 1
    stem = pretrained_model('efficientnet_lite0', 4).body.conv_stem.weight
    assert learn.model.body.conv_stem.weight.shape == stem.shape
    assert (learn.model.body.conv_stem.weight.cpu() - stem).abs().mean() > 1e-2  # not the ImageNet weights


def test_correct_agrees_with_validate():
    seed_everything(0)
    learn = Learner(resnet_scratch(4, widths=(8, 16), blocks=(1, 1)), synthetic_dls(), progress=False)
    learn.fit_one_cycle(2, 1e-2)
    c = correct(learn)
    assert c.shape == (learn.dls.valid.n,) and set(np.unique(c)) <= {0.0, 1.0}
    assert abs(c.mean() - learn.validate()['accuracy']) < 1e-9


def test_mean_and_difference_intervals():
    a, b = np.array([1, 1, 1, 0] * 25, float), np.array([1, 1, 0, 0] * 25, float)
    r = mean_interval(a)
    assert abs(r['mean'] - 0.75) < 1e-12 and abs(r['se'] - np.sqrt(0.75 * 0.25 / 99)) < 1e-12 and r['n'] == 100
    assert abs(r['high'] - r['mean'] - 1.96 * r['se']) < 1e-12 and abs(r['mean'] - r['low'] - 1.96 * r['se']) < 1e-12
    paired, indep = mean_interval(a - b), difference_interval(a, b)
    assert abs(paired['mean'] - 0.25) < 1e-12 and abs(indep['mean'] - 0.25) < 1e-12
    assert (
        paired['se'] < indep['se']
        and abs(indep['se'] - np.hypot(mean_interval(a)['se'], mean_interval(b)['se'])) < 1e-12
    )
    assert indep['n'] == (100, 100)
    assert mean_interval(np.ones(10))['se'] == 0.0  # all correct: no spread
    with pytest.raises(ValueError):
        mean_interval([1.0])
