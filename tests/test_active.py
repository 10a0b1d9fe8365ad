import numpy as np
import pandas as pd
import pytest
import torch

from course_lib.active import (
    STRATEGIES,
    ActiveLoop,
    FeaturePool,
    LabellingPanel,
    Oracle,
    compare_strategies,
    fit_head,
    k_center_greedy,
    label_savings,
    labels_to_reach,
    per_class_error,
    queried_classes,
    uncertainty,
)


def toy_pool(n=240, d=6, c=3, seed=0, spread=3.0):
    "Gaussian blobs standing in for features (mechanics only; the lesson uses real photographs)."
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=g) * spread

    def draw(k):
        y = torch.arange(k) % c
        return centres[y] + torch.randn(k, d, generator=g), y

    (x, y), (xv, yv), (xt, yt) = draw(n), draw(60), draw(60)
    return FeaturePool(x, y, xv, yv, xt, yt, class_names=[f'c{i}' for i in range(c)])


PROBS = torch.tensor([[0.98, 0.01, 0.01], [0.40, 0.35, 0.25], [0.50, 0.50, 0.00], [0.34, 0.33, 0.33]])


@pytest.mark.parametrize(
    'strategy,expected',
    [('least_confidence', [3, 1]), ('margin', [2, 3]), ('entropy', [3, 1])],
)
def test_uncertainty_strategies_pick_the_least_sure_images(strategy, expected):
    picks = STRATEGIES[strategy](PROBS, None, np.zeros(4, bool), 2, np.random.default_rng(0))
    assert picks.tolist() == expected


def test_the_three_uncertainty_scores_disagree_where_they_should():
    # margin looks at the top two classes only; entropy at all of them
    assert uncertainty(PROBS, 'margin').argmax() == 2 and uncertainty(PROBS, 'entropy').argmax() == 3
    with pytest.raises(ValueError, match='Unknown uncertainty'):
        uncertainty(PROBS, 'variance')


def test_labelled_images_are_never_picked_again():
    rng = np.random.default_rng(0)
    labelled = np.array([0, 0, 1, 1], bool)
    for name, strategy in STRATEGIES.items():
        picks = strategy(PROBS, torch.eye(4), labelled, 3, rng)
        assert set(picks.tolist()) == {0, 1}, name  # only two unlabelled images exist


def test_k_center_covers_the_space_first():
    pts = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [-1.0, 0.0], [-0.98, -0.1]])
    picks = k_center_greedy(pts, np.array([1, 0, 0, 0, 0], bool), 2, np.random.default_rng(0))
    assert picks[0] in (3, 4) and picks[1] == 2  # the far side first, then the orthogonal point, never the twin


def test_the_loop_learns_never_asks_twice_and_reproduces():
    pool = toy_pool()
    loop = ActiveLoop(pool, 'entropy', n_start=1, batch=5, seed=3)
    h = loop.run(8)
    asked = np.concatenate(loop.queried)
    assert len(asked) == len(set(asked.tolist())) == 40 and loop.n_labels == 43
    assert h.n_labels.tolist() == [3 + 5 * r for r in range(9)] and h.accuracy.iloc[-1] > 0.9
    assert ActiveLoop(pool, 'entropy', n_start=1, batch=5, seed=3).run(8).equals(h)
    assert not ActiveLoop(pool, 'random', n_start=1, batch=5, seed=4).run(8).n_labels.empty


def test_a_loop_stops_when_the_pool_is_exhausted():
    pool = toy_pool(n=12)
    h = ActiveLoop(pool, 'k_center', n_start=1, batch=5, seed=0).run(10)
    assert h.n_labels.iloc[-1] == 12 and len(h) == 3  # 3 start + 5 + 4


def test_teach_refuses_bad_answers_and_loses_nothing():
    loop = ActiveLoop(toy_pool(), 'margin', batch=3, seed=0)
    idxs = loop.query()
    with pytest.raises(ValueError, match='labelled already'):
        loop.teach(np.flatnonzero(loop.labelled)[:1], [0])
    with pytest.raises(ValueError, match='class numbers'):
        loop.teach(idxs, [0, 1, 7])
    with pytest.raises(ValueError, match='one label per distinct image'):
        loop.teach(idxs, [0, 1])
    assert loop.n_labels == 3  # the refused answers changed nothing
    loop.teach(idxs, Oracle(loop.pool)(idxs))
    assert loop.n_labels == 6
    with pytest.raises(ValueError, match='Unknown strategy'):
        ActiveLoop(loop.pool, 'coreset')


def test_the_loop_trains_on_the_answers_it_is_given():
    pool = toy_pool()
    liar = lambda idxs: (Oracle(pool)(idxs) + 1) % 3  # noqa: E731 - every answer wrong
    honest = ActiveLoop(pool, 'random', batch=10, seed=0).run(5).accuracy.iloc[-1]
    fooled = ActiveLoop(pool, 'random', batch=10, seed=0).run(5, answer=liar).accuracy.iloc[-1]
    assert honest > 0.9 and fooled < honest - 0.3


def test_the_panel_and_the_oracle_take_the_same_path():
    pool = toy_pool()
    panel = LabellingPanel(ActiveLoop(pool, 'margin', batch=4, seed=1), oracle=Oracle(pool))
    shown = panel.idxs.copy()
    assert [c.value for c in panel.choices] == Oracle(pool)(shown).tolist()
    acc = panel.submit()
    assert acc == panel.loop.history[-1]['accuracy'] and panel.loop.labelled[shown].all()
    assert not set(panel.idxs.tolist()) & set(shown.tolist())  # the next images are new ones
    blank = LabellingPanel(ActiveLoop(pool, 'margin', batch=4, seed=1))
    blank.choices[0].value = 1
    assert blank.submit() is None and '3 left' in blank.status.value and blank.loop.n_labels == 3


def test_fit_head_is_deterministic_and_needs_labels():
    pool = toy_pool()
    a, b = fit_head(pool.x[:30], pool.y[:30], 3), fit_head(pool.x[:30], pool.y[:30], 3)
    assert torch.equal(a.weight, b.weight)
    with pytest.raises(ValueError, match='at least one'):
        fit_head(pool.x[:0], pool.y[:0], 3)


def test_label_savings_reads_labels_to_target_and_its_interval():
    rows = []
    for seed in range(4):
        for strategy, reach in (('random', 60 + 10 * seed), ('entropy', 30 + 5 * seed), ('never', None)):
            for n in range(10, 110, 10):
                acc = 0.9 if reach and n >= reach else 0.5
                rows.append(dict(strategy=strategy, seed=seed, n_labels=n, accuracy=acc))
    df = pd.DataFrame(rows)
    need = labels_to_reach(df, 0.8)
    assert need['random'].tolist() == [60, 70, 80, 90] and need['entropy'].tolist() == [30, 40, 40, 50]
    assert np.isinf(need['never']).all() and (labels_to_reach(df, 0.8, censor_at=110)['never'] == 110).all()
    s = label_savings(df, 0.8)
    assert s.loc['entropy', 'ratio'] == pytest.approx(75 / 40) and s.loc['random', 'ratio'] == 1
    assert s.loc['entropy', 'low'] <= s.loc['entropy', 'ratio'] <= s.loc['entropy', 'high']
    assert s.loc['entropy', 'low'] > 1  # every seed: entropy needs fewer labels
    # a run that never reached the target counts as needing one round more than the budget (100 + 10)
    assert s.loc['never', 'ratio'] == pytest.approx(75 / 110) and s.loc['never', 'censored'] == 1
    assert s.loc['entropy', 'censored'] == 0


def test_compare_strategies_and_which_classes_were_asked_about():
    pool = toy_pool()
    df = compare_strategies(pool, strategies=('random', 'margin'), seeds=(0, 1), rounds=3, batch=4)
    assert set(df.strategy) == {'random', 'margin'} and len(df) == 2 * 2 * 4
    loop = ActiveLoop(pool, 'margin', batch=4, seed=0)
    loop.run(3)
    q = queried_classes(loop)
    assert q.sum() == 12 and list(q.index) == pool.class_names
    err = per_class_error(loop.head, pool.x_valid, pool.y_valid, pool.class_names)
    assert err.between(0, 1).all()
