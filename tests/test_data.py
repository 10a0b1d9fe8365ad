"""The data layer on the real Imagenette/Imagewoof photographs of the mirror (../shared/data)."""

from pathlib import Path
import numpy as np
import pytest
from course_lib.core import load_settings
from course_lib.data import (
    DATASETS,
    CLASSES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    dataset_info,
    get_dataset,
    find_in_mirrors,
    list_images,
    make_subset,
    subset_for_scale,
    SubsetSizeError,
    DatasetLayoutError,
    DatasetNotFound,
    load_image,
    is_clean,
)
from course_lib.loaders import build_cache


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


def test_clean_split_never_trains_or_chooses_on_clean_images(tmp_path, tiny_settings):
    s = make_subset('imagewoof', 0, 0, split='clean', out_dir=tmp_path, settings=tiny_settings, quiet=True)
    tr, va, te = (s.df[s.df.split == k] for k in ('train', 'valid', 'test'))
    # train and validation come from the training side (train / val folders, no ILSVRC file); the clean
    # ILSVRC2012_val_* images of both folders are the test set, and only they are
    assert not tr.clean.any() and not va.clean.any() and te.clean.all()
    assert tr.path.str.startswith('train/').all() and va.path.str.startswith('val/').all()
    assert len(te) == 500 and len(va) == 500 and len(tr) == 1500
    assert not set(tr.path) & set(va.path) and not (set(tr.path) | set(va.path)) & set(te.path)
    few = make_subset(
        'imagewoof', 3, 2, split='clean', n_test_per_class=4, out_dir=tmp_path, settings=tiny_settings, quiet=True
    )
    assert few.df.split.value_counts().to_dict() == {'train': 30, 'valid': 20, 'test': 40}
    assert few.name != s.name and '_e4_' in few.name
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


def test_subset_for_scale_follows_the_preset(tmp_path, tiny_settings):
    sub = subset_for_scale('imagenette', settings=tiny_settings, out_dir=tmp_path)
    p = tiny_settings.preset
    assert (sub.df.split == 'train').sum() == 10 * p.n_train_per_class and sub.split == 'clean'
    assert (sub.df.split == 'valid').sum() == 10 * p.n_valid_per_class and not sub.df[
        sub.df.split == 'valid'
    ].clean.any()
    assert (sub.df.split == 'test').sum() == 10 * p.n_test_per_class and sub.df[sub.df.split == 'test'].clean.all()


def test_load_image_makes_rgb_squares(tmp_path, mirror):
    from PIL import Image

    src = sorted((mirror / 'imagewoof' / 'train' / CLASSES['imagewoof'][0][0]).iterdir())[0]
    Image.open(src).convert('L').resize((90, 30)).save(tmp_path / 'wide_gray.png')
    img = load_image(tmp_path / 'wide_gray.png', 24)  # 3:1 and grayscale -> 24x24 RGB, centre crop
    assert img.shape == (24, 24, 3) and img.dtype == np.uint8 and np.array_equal(img[..., 0], img[..., 2])
    assert load_image(src, 40).shape == (40, 40, 3)


def test_imagenet_statistics_are_defined_once():
    import course_lib.loaders as loaders

    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    assert loaders.IMAGENET_MEAN is IMAGENET_MEAN and loaders.load_image is load_image


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


def test_full_scale_prefers_the_complete_archive_to_a_mirror_sample(tmp_path, mirror, capsys):
    "The development mirror holds a sample: at full scale it stands in only when nothing complete can be had, loudly."
    m = tmp_path / 'mirror'
    m.mkdir()
    (m / 'imagewoof').symlink_to(mirror / 'imagewoof')
    env = {'COURSE_DATA_MIRROR': str(m), 'COURSE_CACHE': str(tmp_path / 'c'), 'COURSE_SCALE': 'full'}
    s = load_settings(env=env)
    s.allow_download = False
    root = get_dataset('imagewoof', s)  # offline, nothing complete: the sample, with a warning naming the counts
    out = capsys.readouterr().out
    assert root == m / 'imagewoof' and 'WARNING: full scale' in out and 'of the 12,954 images' in out
    assert 'NOT comparable' in out
    _woof_tgz(m / 'imagewoof2-160.tgz', mirror)  # a mirror's official archive wins over the sample folder
    root = get_dataset('imagewoof', s)
    assert root == tmp_path / 'c' / 'datasets' / 'imagewoof2-160' and 'mirror archive' in capsys.readouterr().out
    (m / 'imagewoof2-160.tgz').unlink()  # the extraction stays: a later run uses it, and says why not the sample
    assert get_dataset('imagewoof', s) == root and 'not the mirror\'s sample of 2500 images' in capsys.readouterr().out
    tiny = load_settings(env=dict(env, COURSE_SCALE='tiny'))  # below full scale the sample is what a lesson wants
    assert get_dataset('imagewoof', tiny, quiet=True) == m / 'imagewoof'
