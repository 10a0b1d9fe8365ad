"Transfer recipes on real photographs: features once, zero-shot, linear probe, budgets, fine-tuning, from scratch."

import numpy as np
import pytest

from course_lib.core import seed_everything
from course_lib.interpret import confusion_matrix
from course_lib.learner import Learner
from course_lib.loaders import DataLoaders, synthetic_dls
from course_lib.models import LITE0_STATS, ImageNetSubsetHead, load_lite0_imagenet, pretrained_model, resnet_scratch
from course_lib.transfer import (
    compute_features,
    features_dls,
    fine_tune,
    fit_for_budget,
    linear_probe,
    train_scratch,
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
