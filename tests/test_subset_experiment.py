"""Tests for course_lib.subset_experiment: nested seeded draws from a pool of real Imagenette photographs, grid cells
trained by the real Learner (frozen Lite0 features or a ResNet from scratch), evaluated explicitly after the fit."""

import numpy as np
import pytest

from course_lib.agreement import rank_agreement
from course_lib.core import load_settings
from course_lib.experiments import run_grid
from course_lib.subset_experiment import SubsetExperiment, nested_draw


def test_nested_draw_is_nested_and_seeded():
    pool = [np.arange(0, 10), np.arange(10, 20), np.arange(20, 25)]
    for s in (0, 1, 2):
        draws = [nested_draw(pool, n, s) for n in (1, 3, 5)]
        assert [len(d) for d in draws] == [3, 9, 15]
        assert set(draws[0]) < set(draws[1]) < set(draws[2]) and set(range(20, 25)) < set(draws[2])
        assert all(np.array_equal(d, np.sort(d)) for d in draws)
        assert np.array_equal(nested_draw(pool, 3, s), draws[1])  # same seed, same draw
    assert not np.array_equal(nested_draw(pool, 3, 0), nested_draw(pool, 3, 1))


# ---- real photographs through the real Learner --------------------------------------------------------------------


@pytest.fixture(scope='module')
def nette():
    settings = load_settings(env={'COURSE_SCALE': 'tiny'})
    return SubsetExperiment(
        'imagenette',
        pool_per_class=6,
        n_valid_per_class=4,
        n_test_per_class=4,
        cache_size=64,
        settings=settings,
        progress=False,
    )


def test_subset_draws_are_nested_and_seeded(nette):
    for s in (0, 1):
        small, big = set(nette.rung_idxs(2, s)), set(nette.rung_idxs(5, s))
        assert len(small) == 20 and len(big) == 50 and small < big
        assert np.bincount(nette.cache.labels[sorted(big)], minlength=10).tolist() == [5] * 10
    assert set(nette.rung_idxs(2, 0)) != set(nette.rung_idxs(2, 1))
    assert set(nette.rung_idxs(2, 0)).isdisjoint(nette.valid_idx) and len(nette.valid_idx) == 40
    assert set(nette.rung_idxs(5, 1)).isdisjoint(nette.test_idx) and len(nette.test_idx) == 40
    with pytest.raises(ValueError, match='pool_per_class'):
        nette.rung_idxs(7, 0)


def test_three_way_split_validation_on_the_training_side_test_clean(nette):
    "Choices are made on validation images from the training side; the clean ILSVRC images are the test set only."
    paths = np.array(nette.cache.paths)
    clean = lambda p: p.split('/')[-1].startswith('ILSVRC2012_val_')  # noqa: E731
    assert not any(clean(p) for p in paths[nette.valid_idx]) and all(clean(p) for p in paths[nette.test_idx])
    assert all(p.split('/')[-3] == 'val' for p in paths[nette.valid_idx])  # the official val folder, not train/
    train = np.concatenate([nette.rung_idxs(6, s) for s in (0, 1)])
    assert not any(clean(p) for p in paths[train])
    assert len(set(nette.valid_idx) | set(nette.test_idx) | set(train)) == 40 + 40 + 60


def test_seeds_draw_different_images_unless_the_rung_is_the_pool(nette):
    assert nette.seed_overlap(6, [0, 1, 2]) == 1.0  # rung = pool: every seed trains on the same images
    assert nette.seed_overlap(3, [0, 1, 2]) < 1.0 and 0 <= nette.seed_overlap(1, [0, 1]) <= 1
    a, b = set(nette.rung_idxs(3, 0)), set(nette.rung_idxs(3, 1))
    assert np.isclose(nette.seed_overlap(3, [0, 1]), len(a & b) / len(a))
    with pytest.raises(ValueError, match='2 seeds'):
        nette.seed_overlap(3, [0])


@pytest.mark.slow
def test_real_grid_with_learner(nette, tmp_path):
    configs = {
        'lite0 64px': dict(arch='lite0', size=64, lr=3e-3, epochs=4),
        'lite0 32px flip': dict(arch='lite0', size=32, lr=3e-3, epochs=4, flip=True),
        'scratch 16px': dict(arch='scratch', size=16, lr=3e-3, epochs=3, width=8),
    }
    df = run_grid(configs, [2, 5], [0, 1], train_fn=nette, cache_dir=tmp_path, progress=False)
    assert len(df) == 12 and df.attrs['n_trained'] == 12 and df.accuracy.between(0, 1).all()
    assert {'accuracy', 'valid_loss', 'train_loss', 'n_train', 'diverged', 'fit_time', 'arch', 'size', 'lr'} <= set(
        df.columns
    )
    assert (df.n_train == df.n_per_class * 10).all()
    # pretrained features on real photos: far above chance (10 %) even with 2-5 images per class
    assert df[df.config == 'lite0 64px'].accuracy.mean() > 0.3, df
    again = run_grid(configs, [2, 5], [0, 1], train_fn=nette, cache_dir=tmp_path, progress=False)
    assert again.attrs['n_trained'] == 0 and np.allclose(again.accuracy, df.accuracy)
    r = rank_agreement(df, 2, 5, n_boot=200)
    assert -1 <= r.spearman <= 1 and r.n_configs == 3 and r.n_seeds == 2
    assert 0.1 < nette.zero_shot(64) <= 1
    # the cell is reproducible: same config, rung and seed -> same accuracy
    a = nette(2, 0, arch='lite0', size=64, lr=3e-3, epochs=4)['accuracy']
    assert a == df[(df.config == 'lite0 64px') & (df.n_per_class == 2) & (df.seed == 0)].accuracy.item()
    with pytest.raises(ValueError, match="unknown key"):
        run_grid(
            {'x': dict(arch='lite0', optimizer='sgd')}, [2], [0], train_fn=nette, cache_dir=tmp_path, progress=False
        )


def test_cell_evaluates_explicitly_without_touching_dls_valid(nette, monkeypatch):
    "No loader is swapped behind the Learner's back: no per-epoch validation, one explicit validate on the valid set."
    import course_lib.subset_experiment as se
    from course_lib.learner import Learner

    spies = []

    class Spy(Learner):
        def __init__(self, *args, **kw):
            super().__init__(*args, **kw)
            self.valid0, self.validated, self.events = self.dls.valid, [], []
            spies.append(self)

        def callback(self, event):
            assert self.dls.valid is self.valid0, f"dls.valid changed at {event}"
            self.events.append(event)
            super().callback(event)

        def validate(self, dl=None):
            self.validated.append(dl)
            return super().validate(dl)

    monkeypatch.setattr(se, 'Learner', Spy)
    for arch, kw in (('lite0', dict(size=64)), ('scratch', dict(size=16, width=8))):
        out = nette(2, 0, arch=arch, lr=3e-3, epochs=2, **kw)
        learn = spies[-1]
        assert learn.dls.valid is learn.valid0 and len(learn.validated) == 1
        (dl,) = learn.validated
        assert dl is learn.dls.valid and dl.n == len(nette.valid_idx) == 40  # the whole validation set
        assert learn.history.accuracy.isna().all()  # the per-epoch validation passes were skipped
        assert learn.events.count('before_validate') == 2 and 'before_batch' in learn.events
        assert 0 <= out['accuracy'] <= 1 and out['n_train'] == 20 and not out['diverged']


@pytest.mark.slow
def test_feature_file_is_written_atomically(nette, monkeypatch, tmp_path):
    "Features go to disk through core.atomic_write (bytes): a killed run never leaves half a file."
    import course_lib.subset_experiment as se

    written = []
    real_write = se.atomic_write
    monkeypatch.setattr(se, 'atomic_write', lambda p, data: written.append((p, type(data))) or real_write(p, data))
    monkeypatch.setattr(nette, '_feats', {})
    monkeypatch.setattr(nette, 'settings', load_settings(env={'COURSE_SCALE': 'tiny', 'COURSE_CACHE': str(tmp_path)}))
    X = nette.features(32)
    assert [t for _, t in written] == [bytes] and written[0][0].is_file() and X.shape == (len(nette.cache), 1280)
    assert sorted(p.name for p in written[0][0].parent.iterdir()) == [written[0][0].name]  # no temporary file left


def test_final_test_is_the_grid_cell_evaluated_once_on_the_clean_test(nette):
    cfg = dict(arch='lite0', size=64, lr=3e-3, epochs=3)
    ft = nette.final_test(4, [0, 1], **cfg)
    grid = [nette(4, s, **cfg) for s in (0, 1)]
    assert np.isclose(ft['valid_accuracy'], np.mean([g['accuracy'] for g in grid]))  # the same cells as the grid
    assert 'test_accuracy' not in grid[0]  # a grid cell never reports the test set
    t = np.array(ft['test_per_seed'])
    assert ft['n_test'] == 40 and np.isclose(ft['test_accuracy'], t.mean()) and np.all(t * 40 == np.round(t * 40))
    p = t.mean()
    assert np.isclose(ft['test_se'], np.sqrt(p * (1 - p) / 40 + t.var(ddof=1) / 2))
    assert 0 <= nette.zero_shot(64, part='test') <= 1
    with pytest.raises(TypeError, match='optimizer'):
        nette.final_test(4, [0], arch='lite0', optimizer='sgd')
    with pytest.raises(ValueError, match='part'):
        nette.zero_shot(64, part='train')


def test_official_split_has_no_test_set():
    settings = load_settings(env={'COURSE_SCALE': 'tiny'})
    off = SubsetExperiment('imagenette', 4, 2, split='official', cache_size=64, settings=settings, progress=False)
    assert len(off.test_idx) == 0 and len(off.valid_idx) == 20
    with pytest.raises(ValueError, match='no test images'):
        off.final_test(2, [0], arch='lite0', size=32, epochs=1)
