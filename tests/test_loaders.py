"""The loaders on real photographs: the pre-resized cache, batch augmentation, one DataLoaders class, and the
epoch contract (shuffles and crops come from (seed, epoch); iterating never changes the epoch)."""

import shutil
import numpy as np
import pytest
import torch
from PIL import Image
from course_lib.core import load_settings, seeded_generator
from course_lib.data import CLASSES, make_subset, subset_for_scale, load_image
from course_lib.loaders import (
    DataLoaders,
    EpochLoader,
    TensorDataLoader,
    CacheLoader,
    build_cache,
    get_dls,
    show_batch,
    synthetic_dls,
    time_loader,
    random_crop_boxes,
    crop_resize_cpu,
    crop_resize_gpu,
)


@pytest.fixture
def sub(tmp_path, tiny_settings):
    return make_subset('imagenette', 4, 2, out_dir=tmp_path, settings=tiny_settings, quiet=True)


def cache_dls(sub, settings, seed=0, **kw):
    return get_dls(sub, 32, bs=8, seed=seed, settings=settings, progress=False, device='cpu', **kw)


def tensor_dl(seed=0, **kw):
    x, y = torch.arange(100).float().view(100, 1), torch.arange(100)
    return TensorDataLoader(x, y, bs=10, shuffle=True, seed=seed, **kw)


def orders(dl):
    "The labels of one pass, batch by batch."
    return [y.tolist() for _, y in dl]


def pixels(dl):
    return torch.cat([x for x, _ in dl])


# --- the epoch contract, for both kinds of loader ---


@pytest.mark.parametrize('kind', ['tensor', 'cache'])
def test_two_seeds_give_two_orders(kind, sub, tiny_settings):
    a, b = (tensor_dl(s) if kind == 'tensor' else cache_dls(sub, tiny_settings, s).train for s in (0, 1))
    assert orders(a) != orders(b)
    assert sorted(sum(orders(a), [])) == sorted(sum(orders(b), []))  # the same items, in another order


@pytest.mark.parametrize('kind', ['tensor', 'cache'])
def test_one_seed_and_epoch_give_the_same_batches_twice(kind, sub, tiny_settings):
    a, b = (tensor_dl(3) if kind == 'tensor' else cache_dls(sub, tiny_settings, 3).train for _ in range(2))
    a.set_epoch(2)
    b.set_epoch(2)
    assert orders(a) == orders(b)
    if kind == 'cache':  # and the same random crops
        assert torch.equal(pixels(a), pixels(b))


@pytest.mark.parametrize('kind', ['tensor', 'cache'])
def test_iterating_does_not_change_the_next_epoch(kind, sub, tiny_settings):
    "A picture (show_batch) or an lr_find iterates the loader: training's next epoch must not notice."
    make = (lambda: tensor_dl(5)) if kind == 'tensor' else (lambda: cache_dls(sub, tiny_settings, 5).train)
    untouched, looked_at = make(), make()
    next(iter(looked_at))  # half a look ...
    list(looked_at)  # ... and whole passes
    list(looked_at)
    assert looked_at.epoch == untouched.epoch == 0
    for e in (0, 1):
        untouched.set_epoch(e)
        looked_at.set_epoch(e)
        assert orders(untouched) == orders(looked_at)


@pytest.mark.parametrize('kind', ['tensor', 'cache'])
def test_set_epoch_reproduces_an_epoch(kind, sub, tiny_settings):
    dl = tensor_dl(7) if kind == 'tensor' else cache_dls(sub, tiny_settings, 7).train
    seen = {e: (orders(dl.set_epoch(e)), pixels(dl)) for e in range(3)}
    assert seen[0][0] != seen[1][0] != seen[2][0]  # each epoch its own order
    dl.set_epoch(1)
    assert orders(dl) == seen[1][0] and torch.equal(pixels(dl), seen[1][1])
    with pytest.raises(ValueError, match='whole number >= 0'):
        dl.set_epoch(-1)


def test_seed_and_epoch_are_a_pair_not_a_sum():
    "With seed + epoch, (seed 0, epoch 1) would shuffle like (seed 1, epoch 0)."
    assert orders(tensor_dl(0).set_epoch(1)) != orders(tensor_dl(1).set_epoch(0))
    g1, g2 = seeded_generator(0, 1), seeded_generator(1, 0)
    assert not torch.equal(torch.rand(8, generator=g1), torch.rand(8, generator=g2))


def test_tensor_loader_shuffle_follows_its_seed():
    "Moved from test_learner.py (the loader moved); epochs now come from set_epoch, not from iterating."
    x, y = torch.arange(100).float().view(100, 1), torch.arange(100)

    def order(seed, epochs=2):
        dl = TensorDataLoader(x, y, bs=100, shuffle=True, seed=seed)
        return [next(iter(dl.set_epoch(e)))[1].tolist() for e in range(epochs)]

    a, a2, b = order(0), order(0), order(1)
    assert a == a2  # one seed: the same orders, epoch by epoch
    assert a[0] != b[0] and a[1] != b[1]  # another seed: other orders
    assert a[0] != a[1]  # and each epoch its own order
    assert sorted(a[0]) == list(range(100))
    assert next(iter(TensorDataLoader(x, y, bs=100, shuffle=False, seed=3)))[1].tolist() == list(range(100))
    with pytest.raises(ValueError, match='x has 3 items but y has 2'):
        TensorDataLoader(x[:3], y[:2])


def test_every_loader_is_an_epoch_loader(sub, tiny_settings):
    dls = cache_dls(sub, tiny_settings)
    for dl in (dls.train, dls.valid, tensor_dl()):
        assert isinstance(dl, EpochLoader) and dl.epoch == 0 and len(dl) == -(-dl.n // dl.bs)
    dl = CacheLoader(dls.cache, dls.train.idxs, 32, bs=16, shuffle=True, drop_last=True, device='cpu')
    assert len(dl) == 2 and [len(y) for _, y in dl] == [16, 16]


# --- one DataLoaders class ---


def test_one_dataloaders_class_for_images_and_tensors(sub, tiny_settings):
    img = cache_dls(sub, tiny_settings)
    assert isinstance(img, DataLoaders) and img.subset is sub and img.cache is not None
    assert img.classes == sub.classes and img.class_names == sub.class_names and img.n_classes == 10
    assert img.device == torch.device('cpu') and 'train' in repr(img)
    syn = synthetic_dls(n_classes=3)
    assert isinstance(syn, DataLoaders) and syn.classes == ['0', '1', '2'] and syn.class_names == syn.classes
    assert syn.subset is None and syn.cache is None and syn.n_classes == 3
    feats = DataLoaders(tensor_dl(), tensor_dl(), classes=list('abcdefghij'), class_names=list('ABCDEFGHIJ'))
    assert feats.n_classes == 10 and feats.class_names[0] == 'A'
    xb, yb = next(iter(syn.train))
    assert xb.shape == (16, 3, 16, 16) and yb.dtype == torch.int64


def test_time_loader_counts_images(sub, tiny_settings):
    assert time_loader(cache_dls(sub, tiny_settings).valid) > 0


# --- the cache and the image loaders (moved from test_data.py) ---


def _broken_dataset(tmp_path, mirror):
    "A 2-class copy (in tmp, never the repo) of real images plus a truncated, a non-image, a grayscale and a CMYK file."
    root = tmp_path / 'ds' / 'imagenette2-160'
    for split in ('train', 'val'):
        for w, _ in CLASSES['imagenette']:
            d = root / split / w
            d.mkdir(parents=True)
            for f in sorted((mirror / 'imagenette' / split / w).iterdir())[:2]:
                shutil.copy(f, d / f.name)
    w = CLASSES['imagenette'][0][0]
    src = sorted((mirror / 'imagenette' / 'train' / w).iterdir())[0]
    (root / 'train' / w / 'n0_truncated.JPEG').write_bytes(src.read_bytes()[:2000])
    (root / 'train' / w / 'n0_notanimage.JPEG').write_text('hello')
    Image.open(src).convert('L').save(root / 'train' / w / 'n0_gray.JPEG')
    Image.open(src).convert('CMYK').save(root / 'train' / w / 'n0_cmyk.JPEG')
    return tmp_path / 'ds'


def test_cache_skips_broken_images_and_converts_modes(tmp_path, mirror):
    m = _broken_dataset(tmp_path, mirror)
    s = load_settings(env={'COURSE_DATA_MIRROR': str(m), 'COURSE_CACHE': str(tmp_path / 'c'), 'COURSE_SCALE': 'tiny'})
    sub = make_subset('imagenette2-160', 0, 0, out_dir=tmp_path, settings=s, quiet=True)
    cache = build_cache(sub, 40, s, progress=False)
    bad = {x['path'].split('/')[-1] for x in cache.skipped}
    assert bad == {'n0_truncated.JPEG', 'n0_notanimage.JPEG'}
    assert len(cache) == len(sub.df) - 2 and cache.images.shape[1:] == (40, 40, 3)
    gray = cache.images[cache.paths.index(next(p for p in cache.paths if p.endswith('n0_gray.JPEG')))]
    assert np.array_equal(gray[..., 0], gray[..., 1])  # grayscale became RGB with equal channels
    # the rows left after skipping still line up with their files
    assert all(
        np.array_equal(np.asarray(cache.images[i]), load_image(sub.root / p, 40)) for i, p in enumerate(cache.paths)
    )


def test_cache_is_reused_and_rebuilt_on_change(tmp_path, tiny_settings):
    sub = make_subset('imagenette', 2, 1, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    c1 = build_cache(sub, 32, tiny_settings, progress=False)
    mtime = (c1.path / 'images.u8').stat().st_mtime_ns
    c2 = build_cache(sub, 32, tiny_settings, progress=False)
    assert c2.path == c1.path and (c2.path / 'images.u8').stat().st_mtime_ns == mtime
    assert build_cache(sub, 36, tiny_settings, progress=False).path != c1.path
    other = make_subset('imagenette', 2, 1, seed=1, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    assert build_cache(other, 32, tiny_settings, progress=False).path != c1.path
    # the cached pixels are the decoded images
    i = 3
    ref = load_image(sub.root / c1.paths[i], 32)
    assert np.array_equal(np.asarray(c1.images[i]), ref)


def test_loaders_shapes_determinism_and_resizing(tmp_path, tiny_settings):
    sub = make_subset('imagenette', 4, 2, out_dir=tmp_path, settings=tiny_settings, quiet=True)

    def mk(seed):
        return get_dls(sub, 32, bs=8, seed=seed, settings=tiny_settings, progress=False, device='cpu')

    dls = mk(0)
    assert len(dls.train) == 5 and dls.train.n == 40 and dls.valid.n == 20 and dls.n_classes == 10
    batches = list(dls.train)
    assert [tuple(x.shape) for x, _ in batches] == [(8, 3, 32, 32)] * 5 and batches[0][1].dtype == torch.int64
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(dls.cache.labels[dls.train.idxs].tolist())
    again = list(mk(0).train)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    assert not torch.equal(batches[0][0], list(mk(1).train)[0][0])
    second_epoch = list(dls.train.set_epoch(1))
    assert not torch.equal(batches[0][0], second_epoch[0][0])  # a new shuffle and new crops each epoch
    dls.train.size, dls.train.bs = 24, 16
    assert next(iter(dls.train))[0].shape == (16, 3, 24, 24)
    v1, v2 = [torch.cat([x for x, _ in dls.valid]) for _ in range(2)]
    assert torch.equal(v1, v2)  # validation is not augmented


def test_normalisation_and_decode_round_trip(tmp_path, tiny_settings):
    sub = make_subset('imagenette', 2, 2, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    dls = get_dls(sub, 64, bs=20, settings=tiny_settings, progress=False, cache_size=64, device='cpu')
    x, y = next(iter(dls.valid))
    assert abs(x.mean().item()) < 1 and 0.5 < x.std().item() < 2
    dec = dls.valid.decode(x)
    raw = torch.from_numpy(np.asarray(dls.cache.images[dls.valid.idxs[: len(x)]]))
    assert (dec.int() - raw.int()).abs().max() <= 1


def test_batches_are_normalised_with_the_statistics_passed_in(tmp_path, tiny_settings):
    "Lite0 wants mean = std = 0.5, ResNets ImageNet's: the loader must apply the statistics it is given."
    sub = make_subset('imagenette', 2, 2, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    for mean, std in [
        ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ((0.1, 0.7, 0.3), (0.2, 0.9, 0.4)),
    ]:
        dls = get_dls(
            sub, 64, bs=20, mean=mean, std=std, settings=tiny_settings, progress=False, cache_size=64, device='cpu'
        )
        for dl in (dls.valid, dls.train):
            x, _ = next(iter(dl))
            raw = (
                x.new_tensor(np.asarray(dls.cache.images[dl.idxs])).permute(0, 3, 1, 2) / 255
                if dl is dls.valid
                else None
            )
            m, sd = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
            if raw is not None:  # valid: no augmentation, so every pixel is (raw - mean) / std
                torch.testing.assert_close(x, (raw[: len(x)] - m) / sd, atol=1e-5, rtol=1e-5)
            # train (augmented) too: undoing exactly these statistics gives pixels in [0, 1]
            back = x * sd + m
            assert back.min() >= -1e-4 and back.max() <= 1 + 1e-4, (mean, std, back.min(), back.max())


def test_gpu_path_matches_cpu_path(tmp_path, tiny_settings):
    "The batched grid_sample path (used on CUDA) crops the same boxes as the CPU path."
    sub = make_subset('imagenette', 2, 1, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    dl = get_dls(sub, 48, bs=8, cache_size=64, settings=tiny_settings, progress=False, device='cpu').train
    x = torch.from_numpy(np.ascontiguousarray(dl.cache.images[dl.idxs[:8]]))
    boxes = random_crop_boxes(8, torch.Generator().manual_seed(0), 64, dl.scale, dl.ratio, dl.flip)
    a = crop_resize_cpu(x, boxes, 48).float()
    b = crop_resize_gpu(x, boxes, 48, dl.scale[0])
    assert (a - b).abs().mean() < 4  # out of 255: same crops, slightly different filters


def test_loader_rejects_bad_arguments(tmp_path, tiny_settings):
    sub = make_subset('imagenette', 1, 1, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    with pytest.raises(ValueError, match='size must be at least 8'):
        get_dls(sub, 4, settings=tiny_settings)
    with pytest.raises(ValueError, match='bs must be at least 1'):
        get_dls(sub, 32, bs=0, settings=tiny_settings)


def test_subset_for_scale_and_show_batch(tmp_path, tiny_settings):
    import matplotlib

    matplotlib.use('Agg')
    sub = subset_for_scale('imagenette', settings=tiny_settings, out_dir=tmp_path)
    dls = get_dls(sub, 32, bs=4, settings=tiny_settings, progress=False)
    before = [y.tolist() for _, y in dls.train]
    fig = show_batch(dls, n=6, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6 and set(titles) <= set(sub.class_names)
    assert dls.train.bs == 4 and dls.train.epoch == 0 and [y.tolist() for _, y in dls.train] == before
