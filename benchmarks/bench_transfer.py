"""Accuracy reached by a pretrained network vs networks trained from scratch, at an equal wall-clock training
budget, on the clean test images (ILSVRC2012_val_*, never seen by ImageNet-pretrained weights) of Imagenette and
Imagewoof, with standard errors. Nothing is chosen here: the settings are fixed in advance (lesson 1 chooses them on
its validation split), and the test images are scored once per model.

Pretrained = EfficientNet-Lite0 (offline ImageNet weights): features of the training images computed once ->
linear probe (random head) and warm-started probe (head = Lite0's ImageNet rows of the 10 classes), then
fine-tuning from the warm-started probe (discriminative LRs) for the rest of the budget. The training images'
feature pass and both probes count against the budget.
From scratch = course_lib's resnet_scratch, and Lite0's architecture with random weights, each for the whole
budget. All use the same images, size and seed, in one process. Also prints Lite0's own ImageNet head restricted to
the 10 classes ("no training at all").

    python benchmarks/bench_transfer.py [--scale small] [--budget 45] [--n-train 20] [--size 128]
                                        [--families imagenette imagewoof] [--seed 42]
"""

import argparse
import os
import pandas as pd
from course_lib.core import load_settings, describe_machine, seed_everything
from course_lib.data import make_subset
from course_lib.learner import Learner
from course_lib.loaders import get_dls
from course_lib.models import LITE0_STATS, ImageNetSubsetHead, init_head_from_imagenet, load_lite0_imagenet
from course_lib.models import pretrained_model
from course_lib.loaders import TensorDataLoader
from course_lib.transfer import compute_features, correct, features_dls, fine_tune, mean_interval, train_scratch


def run_family(fam, a, s, base):
    n_valid = 0 if s.preset.n_valid_per_class == 0 else max(s.preset.n_valid_per_class, 5)
    sub = make_subset(
        fam,
        a.n_train,
        n_valid,
        split='clean',
        seed=a.seed,
        settings=s,
        out_dir=s.cache_dir / 'subsets',
        quiet=True,
        n_test_per_class=s.preset.n_test_per_class,
    )
    kw = dict(cache_size=max(a.size, s.preset.cache_size), settings=s, progress=False)
    mean, std = LITE0_STATS
    pre = get_dls(sub, a.size, bs=a.bs, mean=mean, std=std, **kw)
    plain = get_dls(sub, a.size, bs=64, mean=mean, std=std, augment=False, **kw)
    scr = get_dls(sub, a.size, bs=a.bs, **kw)
    rows = []
    # pretrained: features once -> zero-shot + linear probe -> fine-tune in what is left of the budget
    seed_everything(a.seed)
    model = pretrained_model('efficientnet_lite0', pre.n_classes)
    fd = features_dls(model.body.to(pre.device), plain, train_dl=plain.train)
    t_feat = fd.times['train']  # the training images' feature pass is training time; the test pass is not
    tfeat = TensorDataLoader(*compute_features(model.body, plain.test), 256)
    zs = correct(Learner(ImageNetSubsetHead(base.classifier, sub.classes), fd, progress=False), tfeat)
    probe = Learner(model.head, fd, progress=False)
    hp = probe.fit_one_cycle(30, 3e-3)
    c_probe, t_probe = correct(probe, tfeat), t_feat + float(hp['train_time'].sum())
    init_head_from_imagenet(model.head, sub.classes, base)
    warm = Learner(model.head, fd, progress=False)
    hw = warm.fit_one_cycle(30, 1e-3)
    c_warm, t_warm = correct(warm, tfeat), t_probe + float(hw['train_time'].sum())
    # few images: fine_tune keeps BatchNorm's ImageNet statistics (bn_eval=True)
    lf = fine_tune(model, pre, max(a.budget - t_warm, 1.0), slice(3e-5, 3e-4))
    # from scratch, same budget: a small ResNet, and Lite0's own architecture with random weights
    seed_everything(a.seed)
    ls = train_scratch(scr, a.budget, lr=3e-3, size=a.size)
    seed_everything(a.seed)
    ll = train_scratch(pre, a.budget, lr=3e-3, arch='efficientnet_lite0')
    common = dict(dataset=fam, train_images=pre.train.n, test_images=pre.test.n)

    def row(method, c, epochs, train_time):
        "One result row: the method's clean test accuracy and its standard error after `train_time` s of training."
        r = mean_interval(c)
        return dict(common, method=method, epochs=epochs, train_time=train_time, accuracy=r['mean'], se=r['se'])

    def trained(method, learn, c, t0=0.0):
        return row(method, c, len(learn.history), t0 + float(learn.history['train_time'].sum()))

    rows.append(row('no training (Lite0 head, 10 logits)', zs, 0, 0.0))
    rows.append(trained('from scratch (resnet_scratch)', ls, correct(ls, scr.test)))
    rows.append(trained('from scratch (Lite0, random weights)', ll, correct(ll, pre.test)))
    rows.append(row('linear probe (Lite0 features)', c_probe, len(hp), t_probe))
    rows.append(row('warm-started probe (Lite0)', c_warm, len(hw), t_warm))
    rows.append(trained('warm probe + fine-tuning (Lite0)', lf, correct(lf, pre.test), t_warm))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        '--scale', default=None, choices=['tiny', 'small', 'full'], help='default: settings.ini / COURSE_SCALE'
    )
    ap.add_argument(
        '--budget', type=float, default=None, help='seconds of training per method (default by scale: 3/45/120)'
    )
    ap.add_argument(
        '--n-train', type=int, default=None, help='training images per class (default: 10 tiny, 20 small, all full)'
    )
    ap.add_argument('--size', type=int, default=None, help='image size in px (default: 64 tiny, 128 otherwise)')
    ap.add_argument('--bs', type=int, default=32)
    ap.add_argument('--families', nargs='+', default=['imagenette', 'imagewoof'])
    ap.add_argument('--seed', type=int, default=42)
    a = ap.parse_args(argv)
    env = dict(os.environ)
    if a.scale:
        env['COURSE_SCALE'] = a.scale
    s = load_settings(env=env)
    a.budget = a.budget or {'tiny': 3.0, 'small': 45.0, 'full': 120.0}[s.scale]
    a.n_train = a.n_train if a.n_train is not None else {'small': 20}.get(s.scale, s.preset.n_train_per_class)
    a.size = a.size or (64 if s.scale == 'tiny' else 128)
    if a.budget <= 0:
        ap.error('--budget must be > 0')
    print(f"machine: {describe_machine()}")
    print(
        f"scale {s.scale}: {a.n_train or 'all'} train images/class, {a.size} px, budget {a.budget:.0f} s of training per method, "
        f"seed {a.seed}"
    )
    base = load_lite0_imagenet()
    rows = []
    for fam in a.families:
        rows += run_family(fam, a, s, base)
    df = pd.DataFrame(rows)
    pd.set_option('display.width', 160)
    show = df.assign(
        accuracy=(100 * df.accuracy).round(1), se=(100 * df.se).round(1), train_time=df.train_time.round(1)
    )
    print(show.to_string(index=False))
    print()
    for fam, g in df.groupby('dataset', sort=False):
        g = g.set_index('method').accuracy
        pre = g[
            'warm probe + fine-tuning (Lite0)'
        ]  # the pipeline fixed in advance (no picking the best on the test set)
        scr = g['from scratch (resnet_scratch)']
        print(
            f"{fam:11s} equal budget {a.budget:.0f} s: pretrained (probe + fine-tuning) {pre:.1%} vs from scratch {scr:.1%} -> "
            f"ratio pretrained/scratch = {pre / max(scr, 1e-9):.2f}x, gap {100 * (pre - scr):+.1f} points "
            f"(no training at all: {g['no training (Lite0 head, 10 logits)']:.1%})"
        )
    return df


if __name__ == '__main__':
    main()
