"Interpret: history plots, confusion matrix and top losses, on real photographs."

import matplotlib
import numpy as np
import pandas as pd
import pytest

from course_lib.core import seed_everything
from course_lib.interpret import confusion_matrix, plot_confusion_matrix, plot_history, plot_top_losses, top_losses
from course_lib.learner import Learner
from course_lib.loaders import synthetic_dls
from course_lib.models import LITE0_STATS, lite0_zero_shot, resnet_scratch

matplotlib.use('Agg')


@pytest.fixture(scope='module')
def real_dls(tmp_path_factory, mirror):
    from course_lib.data import make_subset
    from course_lib.loaders import get_dls

    s = make_subset('imagenette', 10, 5, split='clean', out_dir=tmp_path_factory.mktemp('subsets'), quiet=True)
    mean, std = LITE0_STATS
    return get_dls(s, 64, bs=32, mean=mean, std=std, cache_size=64, device='cpu', progress=False)


def test_plots_on_real_images(real_dls):
    learn = Learner(lite0_zero_shot(real_dls.classes), real_dls, progress=False)
    acc = learn.validate()['accuracy']
    assert acc >= 0.6, acc  # Lite0's own head, 10 logits kept, at only 64 px
    df = plot_top_losses(learn, 4)
    assert len(df) == 4 and df['loss'].is_monotonic_decreasing
    assert set(df['actual']) <= set(real_dls.class_names)
    preds = learn.get_preds()
    again = top_losses(learn, 4, preds=preds)  # stored predictions give the same table (floats: up to rounding)
    assert df[['index', 'actual', 'predicted']].equals(again[['index', 'actual', 'predicted']])
    pd.testing.assert_frame_equal(df, again, rtol=1e-5)
    cm = confusion_matrix(learn, preds=preds)
    assert cm.shape == (10, 10) and cm.sum() == real_dls.valid.n
    assert np.trace(cm) == (preds[0].argmax(1) == preds[1]).sum().item()
    ax = plot_confusion_matrix(learn, preds=preds)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(real_dls.class_names)


def test_confusion_matrix_counts_true_by_predicted():
    import torch

    p = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = torch.tensor([0, 0, 1])
    assert confusion_matrix(None, preds=(p, y)).tolist() == [[1, 1], [1, 0]]


def test_plot_history_takes_a_learner_or_its_history():
    seed_everything(0)
    learn = Learner(resnet_scratch(4, widths=(8, 16), blocks=(1, 1)), synthetic_dls(), progress=False)
    learn.fit_one_cycle(2, 1e-3)
    a1, a2 = plot_history(learn, title='t')
    assert len(a1.lines) == 2 and len(a2.lines) == 1 and list(a2.lines[0].get_ydata()) == list(learn.history.accuracy)
    plot_history(learn.history)
