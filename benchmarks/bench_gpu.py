"""One-GPU benchmark: real Imagenette at 128 px, 5 epochs, from scratch (resnet_scratch) and with the pretrained
EfficientNet-Lite0 body (new head, discriminative LRs), mixed precision + channels-last (the Learner's CUDA path).
Reports the card (torch.cuda.get_device_name), clean test accuracy, epoch times and training images/s.

Training images: every non-ILSVRC2012_val_* training image of the dataset the settings find (the full official
archive when it is downloaded or mirrored; else the local sample). Test: the clean ILSVRC2012_val_* images.
Takes a few minutes on one modern GPU. Without CUDA it refuses, unless --dry-run (a tiny CPU version that checks
that everything works: 10 images/class, 64 px, 1 epoch).

    python benchmarks/bench_gpu.py [--epochs 5] [--size 128] [--bs 64] [--n-train 0] [--dataset imagenette]
    python benchmarks/bench_gpu.py --dry-run
"""

import argparse
import os
import sys
import time
import pandas as pd
import torch
from course_lib.core import load_settings, describe_machine, seed_everything
from course_lib.data import make_subset, IMAGENET_MEAN, IMAGENET_STD
from course_lib.learner import Learner
from course_lib.loaders import get_dls
from course_lib.models import LITE0_STATS, pretrained_model, resnet_scratch


def run(name, model, dls, epochs, lr):
    learn = Learner(model, dls, progress=False)
    if learn.is_cuda:
        torch.cuda.synchronize()
    h = learn.fit_one_cycle(epochs, lr)
    n = dls.train.n
    return dict(
        model=name,
        epochs=len(h),
        accuracy=float(h['accuracy'].iloc[-1]),
        first_epoch_s=float(h['epoch_time'].iloc[0]),
        epoch_s=float(h['epoch_time'].iloc[1:].mean() if len(h) > 1 else h['epoch_time'].iloc[0]),
        train_images_per_s=n * len(h) / float(h['train_time'].sum()),
        total_s=float(h['epoch_time'].sum()),
        amp=str(learn.amp_dtype).replace('torch.', '') if learn.amp_dtype else 'fp32',
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dataset', default='imagenette', choices=['imagenette', 'imagewoof'])
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--n-train', type=int, default=0, help='training images per class (0 = all)')
    ap.add_argument('--dry-run', action='store_true', help='tiny CPU run that only checks the script works')
    a = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    if not cuda and not a.dry_run:
        print(
            "bench_gpu.py needs a CUDA GPU (torch.cuda.is_available() is False on this machine: "
            f"{describe_machine()}).\nRun it on a GPU machine, or use --dry-run for a tiny CPU check that the script works.",
            file=sys.stderr,
        )
        return 2
    env = dict(os.environ)
    if a.dry_run:
        env['COURSE_SCALE'] = 'tiny'
        a.epochs, a.size, a.bs, a.n_train = 1, 64, 32, 10
    s = load_settings(env=env)
    device = 'cuda' if cuda else 'cpu'
    card = torch.cuda.get_device_name(0) if cuda else 'none (CPU dry run)'
    sub = make_subset(
        a.dataset,
        a.n_train,
        5 if a.dry_run else 0,
        split='clean',
        seed=s.seed,
        settings=s,
        out_dir=s.cache_dir / 'subsets',
        quiet=True,
    )
    cache = max(a.size, s.preset.cache_size)
    t0 = time.perf_counter()
    dls_p = get_dls(
        sub, a.size, bs=a.bs, mean=LITE0_STATS[0], std=LITE0_STATS[1], cache_size=cache, device=device, settings=s
    )
    dls_s = get_dls(
        sub, a.size, bs=a.bs, mean=IMAGENET_MEAN, std=IMAGENET_STD, cache_size=cache, device=device, settings=s
    )
    t_cache = time.perf_counter() - t0
    print(f"card: {card} | {describe_machine()}")
    print(
        f"{a.dataset}: {dls_p.train.n} train / {dls_p.valid.n} clean test images at {a.size} px, bs {a.bs}, "
        f"{a.epochs} epochs (cache ready in {t_cache:.1f} s)" + ('  [DRY RUN: tiny CPU check]' if a.dry_run else '')
    )
    rows = []
    seed_everything(s.seed)
    rows.append(
        run(
            'from scratch (resnet_scratch)',
            resnet_scratch(dls_s.n_classes, small_input=a.size < 96),
            dls_s,
            a.epochs,
            3e-3,
        )
    )
    seed_everything(s.seed)
    rows.append(
        run(
            'pretrained Lite0 body, fine-tuned',
            pretrained_model('efficientnet_lite0', dls_p.n_classes),
            dls_p,
            a.epochs,
            slice(2e-4, 2e-3),
        )
    )
    df = pd.DataFrame(rows)
    pd.set_option('display.width', 160)
    print(df.assign(accuracy=(100 * df.accuracy).round(1)).round(2).to_string(index=False))
    print(
        f"pretrained / scratch accuracy after {a.epochs} epoch(s): {rows[1]['accuracy'] / max(rows[0]['accuracy'], 1e-9):.2f}x on {card}"
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
