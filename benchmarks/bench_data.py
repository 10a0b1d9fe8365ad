"""Images/second delivered as normalised 128 px training batches: the course loader (pre-resized cache,
batched tensor augmentation) vs the baseline a user would otherwise write (torchvision ImageFolder + PIL decode +
RandomResizedCrop(128) + DataLoader), on the same real images, in one process.

    python benchmarks/bench_data.py [--dataset imagenette] [--n-per-class 60] [--size 128] [--bs 64] [--workers 0 2]
"""

import argparse
import time
import torchvision.transforms as T
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder
from course_lib.core import load_settings, describe_machine
from course_lib.data import make_subset, IMAGENET_MEAN, IMAGENET_STD
from course_lib.loaders import build_cache, get_dls


def images_per_second(loader, epochs: int) -> float:
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            n += len(x)
    return n / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dataset', default='imagenette')
    ap.add_argument('--n-per-class', type=int, default=60)
    ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--cache-size', type=int, default=160)
    ap.add_argument('--bs', type=int, default=64)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--workers', type=int, nargs='+', default=[0, 2], help='DataLoader worker counts for the baseline')
    a = ap.parse_args(argv)
    s = load_settings()
    sub = make_subset(
        a.dataset, a.n_per_class, 1, seed=0, split='official', settings=s, out_dir=s.cache_dir / 'subsets'
    )
    t0 = time.perf_counter()
    build_cache(sub, a.cache_size, s)
    t_cache = time.perf_counter() - t0
    dls = get_dls(sub, a.size, bs=a.bs, cache_size=a.cache_size, device='cpu', settings=s)
    # the baseline reads exactly the subset's training files, through ImageFolder
    files = set(str(sub.root / p) for p in sub.df.path[sub.df.split == 'train'])
    tfm = T.Compose(
        [
            T.RandomResizedCrop(a.size, scale=(0.35, 1)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    folder = ImageFolder(str(sub.root / 'train'), transform=tfm, is_valid_file=lambda p: p in files)
    assert len(folder) == dls.train.n, (len(folder), dls.train.n)
    print(f"machine: {describe_machine()}")
    print(f"{dls.train.n} real {a.dataset} training images, {a.size}px batches of {a.bs}, {a.epochs} epochs each")
    print(f"cache build (once; reused by later runs): {t_cache:.1f} s")
    images_per_second(dls.train, 1)  # warm-up: page the memmap in
    ours = images_per_second(dls.train, a.epochs)
    print(f"course loader (cache, in-process):          {ours:9.0f} images/s")
    for w in a.workers:
        base = DataLoader(folder, batch_size=a.bs, shuffle=True, num_workers=w, persistent_workers=w > 0)
        b = images_per_second(base, a.epochs)
        print(
            f"baseline ImageFolder+PIL, num_workers={w}:    {b:9.0f} images/s   ratio course/baseline = {ours / b:5.1f}x"
        )


if __name__ == '__main__':
    main()
