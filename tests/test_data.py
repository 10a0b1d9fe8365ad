"""The data layer on the real Imagenette/Imagewoof photographs of the mirror (../shared/data)."""

import shutil
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from course_lib.core import load_settings
from course_lib.data import (
    DATASETS,
    CLASSES,
    dataset_info,
    get_dataset,
    find_in_mirrors,
    list_images,
    make_subset,
    subset_for_scale,
    build_cache,
    get_dls,
    show_batch,
    SubsetSizeError,
    DatasetLayoutError,
    DatasetNotFound,
    load_image,
    is_clean,
)


def test_registry_has_the_six_official_archives():
    assert set(DATASETS) == {
        'imagenette2',
        'imagenette2-320',
        'imagenette2-160',
        'imagewoof2',
        'imagewoof2-320',
        'imagewoof2-160',
    }
    assert DATASETS['imagenette2-160'].size_bytes == 99_003_388
    assert DATASETS['imagewoof2-320'].url == 'https://s3.amazonaws.com/fast-ai-imageclas/imagewoof2-320.tgz'
    assert DATASETS['imagewoof2'].class_names[0] == 'Shih-Tzu' and len(DATASETS['imagenette2'].wnids) == 10
    with pytest.raises(KeyError, match='Unknown dataset'):
        dataset_info('imagenet')


def test_family_folder_serves_every_variant(tiny_settings, mirror, capsys):
    root = get_dataset('imagewoof2-320', tiny_settings)
    assert root == mirror / 'imagewoof'
    assert 'family folder' in capsys.readouterr().out


def _fake_mirror(tmp_path, mirror, names):
    m = tmp_path / 'mirror'
    m.mkdir()
    for n in names:
        (m / n).symlink_to(mirror / 'imagenette', target_is_directory=True)
    return m


def test_exact_archive_name_wins_over_family(tmp_path, mirror):
    m = _fake_mirror(tmp_path, mirror, ['imagenette', 'imagenette2-160'])
    info = DATASETS['imagenette2-160']
    assert find_in_mirrors(info, [m]) == (m / 'imagenette2-160', 'exact')
    assert find_in_mirrors(DATASETS['imagenette2-320'], [m]) == (m / 'imagenette', 'family')
    assert find_in_mirrors(DATASETS['imagewoof2'], [m]) == (None, None)


def test_missing_dataset_without_download_is_a_clear_error(tmp_path, mirror):
    m = _fake_mirror(tmp_path, mirror, ['imagenette'])
    s = load_settings(env={'COURSE_DATA_MIRROR': str(m), 'COURSE_CACHE': str(tmp_path / 'c'), 'COURSE_SCALE': 'tiny'})
    s.allow_download = False
    with pytest.raises(DatasetNotFound, match='imagewoof2-160 is in none of the mirrors'):
        get_dataset('imagewoof', s)


def test_bad_layout_is_reported(tmp_path, tiny_settings):
    bad = tmp_path / 'm' / 'imagenette2-160'
    (bad / 'train').mkdir(parents=True)
    tiny_settings.mirrors = [tmp_path / 'm']
    with pytest.raises(DatasetLayoutError, match='has no val/ folder'):
        get_dataset('imagenette2-160', tiny_settings)


def test_list_images_marks_clean_files(tiny_settings):
    info = dataset_info('imagenette', tiny_settings)
    df = list_images(get_dataset('imagenette', tiny_settings, quiet=True), info)
    assert len(df) == 3000 and df.clean.sum() == 500  # the mirror's README: 2,366 + 634; 366 + 134 clean
    assert df.path.str.contains('ILSVRC2012_val_').sum() == 500 and is_clean('x/ILSVRC2012_val_00000293.JPEG')


def test_subset_is_byte_identical_nested_and_sized(tmp_path, tiny_settings):
    a = make_subset('imagenette', 7, 3, seed=5, out_dir=tmp_path / 'a', settings=tiny_settings, quiet=True)
    b = make_subset('imagenette', 7, 3, seed=5, out_dir=tmp_path / 'b', settings=tiny_settings, quiet=True)
    assert a.manifest_path.read_bytes() == b.manifest_path.read_bytes()
    assert (a.df.split == 'train').sum() == 70 and (a.df.split == 'valid').sum() == 30
    assert a.df.groupby('label').size().eq(10).all()
    c = make_subset('imagenette', 7, 3, seed=6, out_dir=tmp_path / 'c', settings=tiny_settings, quiet=True)
    assert set(c.df.path) != set(a.df.path)
    big = make_subset('imagenette', 20, 3, seed=5, out_dir=tmp_path / 'd', settings=tiny_settings, quiet=True)
    assert set(a.df.path[a.df.split == 'train']) <= set(big.df.path[big.df.split == 'train'])


def test_clean_split_never_trains_on_clean_images(tmp_path, tiny_settings):
    s = make_subset('imagewoof', 0, 0, split='clean', out_dir=tmp_path, settings=tiny_settings, quiet=True)
    tr, va = s.df[s.df.split == 'train'], s.df[s.df.split == 'valid']
    assert not tr.clean.any() and va.clean.all() and len(va) == 500
    assert not set(tr.path) & set(va.path)
    # the official split, by contrast, validates mostly on images ImageNet nets trained on
    o = make_subset('imagewoof', 0, 0, split='official', out_dir=tmp_path, settings=tiny_settings, quiet=True)
    assert o.df[o.df.split == 'valid'].clean.mean() < 0.3


def test_subset_errors_say_what_exists(tmp_path, tiny_settings):
    with pytest.raises(SubsetSizeError, match=r'has only \d+ train images'):
        make_subset('imagewoof', 10_000, 1, out_dir=tmp_path, settings=tiny_settings, quiet=True)
    with pytest.raises(KeyError, match="'poodle' is not a class of imagewoof"):
        make_subset(
            'imagewoof', 1, 1, classes=['beagle', 'poodle'], out_dir=tmp_path, settings=tiny_settings, quiet=True
        )
    with pytest.raises(ValueError, match="split must be"):
        make_subset('imagewoof', 1, 1, split='test', out_dir=tmp_path, settings=tiny_settings, quiet=True)
    with pytest.raises(ValueError, match='whole number >= 0'):
        make_subset('imagewoof', -1, 1, out_dir=tmp_path, settings=tiny_settings, quiet=True)


def test_class_selection_relabels_in_official_order(tmp_path, tiny_settings):
    s = make_subset(
        'imagewoof', 2, 1, classes=['dingo', 'n02088364'], out_dir=tmp_path, settings=tiny_settings, quiet=True
    )
    assert s.class_names == ['beagle', 'dingo'] and sorted(s.df.label.unique()) == [0, 1]


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
    mk = lambda seed: get_dls(sub, 32, bs=8, seed=seed, settings=tiny_settings, progress=False, device='cpu')
    dls = mk(0)
    assert len(dls.train) == 5 and dls.train.n == 40 and dls.valid.n == 20 and dls.n_classes == 10
    batches = list(dls.train)
    assert [tuple(x.shape) for x, _ in batches] == [(8, 3, 32, 32)] * 5 and batches[0][1].dtype == torch.int64
    assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(dls.cache.labels[dls.train.idxs].tolist())
    again = list(mk(0).train)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, again))
    assert not torch.equal(batches[0][0], list(mk(1).train)[0][0])
    second_epoch = list(dls.train)
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
    boxes = dl._crop_boxes(8, torch.Generator().manual_seed(0), 64)
    a = dl._augment_cpu(x, boxes).float()
    b = dl._augment_gpu(x, boxes)
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
    p = tiny_settings.preset
    assert (sub.df.split == 'train').sum() == 10 * p.n_train_per_class and sub.split == 'clean'
    fig = show_batch(get_dls(sub, 32, bs=4, settings=tiny_settings, progress=False), n=6, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6 and set(titles) <= set(sub.class_names)


def _woof_tgz(path: Path, mirror: Path) -> Path:
    "An imagewoof2-160.tgz in the official layout with one real photo per class and split (built in tmp)."
    import tarfile

    with tarfile.open(path, 'w:gz') as t:
        for split in ('train', 'val'):
            for w, _ in CLASSES['imagewoof']:
                f = sorted((mirror / 'imagewoof' / split / w).iterdir())[0]
                t.add(f, arcname=f'imagewoof2-160/{split}/{w}/{f.name}')
    return path


def test_mirror_archive_is_extracted_into_the_cache(tmp_path, mirror, capsys):
    m = tmp_path / 'mirror'
    m.mkdir()
    _woof_tgz(m / 'imagewoof2-160.tgz', mirror)
    s = load_settings(env={'COURSE_DATA_MIRROR': str(m), 'COURSE_CACHE': str(tmp_path / 'c'), 'COURSE_SCALE': 'tiny'})
    root = get_dataset('imagewoof', s)
    assert (
        root == tmp_path / 'c' / 'datasets' / 'imagewoof2-160'
        and 'extracting mirror archive' in capsys.readouterr().out
    )
    assert len(list_images(root, DATASETS['imagewoof2-160'])) == 20
    assert get_dataset('imagewoof', s) == root and 'earlier extraction' in capsys.readouterr().out


def test_no_mirror_downloads_through_the_same_code_path(tmp_path, mirror, monkeypatch):
    "No mirror has the dataset: it is downloaded over HTTP (a local server standing in for S3) and extracted."
    import functools
    import threading
    import course_lib.data as data
    from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler

    served = tmp_path / 's3'
    served.mkdir()
    _woof_tgz(served / 'imagewoof2-160.tgz', mirror)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    srv = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(data, '_BASE_URL', f'http://127.0.0.1:{srv.server_address[1]}/')
        (tmp_path / 'empty_mirror').mkdir()
        s = load_settings(
            env={
                'COURSE_DATA_MIRROR': str(tmp_path / 'empty_mirror'),
                'COURSE_CACHE': str(tmp_path / 'c'),
                'COURSE_SCALE': 'tiny',
            }
        )
        root = get_dataset('imagewoof2-160', s, quiet=True)
        assert (tmp_path / 'c' / 'downloads' / 'imagewoof2-160.tgz').is_file()
        sub = make_subset('imagewoof2-160', 1, 1, out_dir=tmp_path, settings=s, quiet=True)
        assert len(build_cache(sub, 32, s, progress=False)) == 20 and sub.root == root
    finally:
        srv.shutdown()
        srv.server_close()
