"""Tests of course_lib.grading, the grader's facade, and of the whole pipeline on the course's real exercises.

The real-exercise batch (slow; session fixture `real`, graded once with 2 workers): for each exercise of
nbs/exercises (real photographs), the instructor's notebook, the untouched student release, and the notebook
with every question answered by its first known-wrong answer (the `# wrong:` cells; each is also checked on its
own, in-process, by tests/test_exercise_answers.py).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import assertions, autograde, checks, exercise, gradebook, grading as G, hints, instructor_only
from course_lib import release, report, sandbox

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted((REPO / 'nbs' / 'exercises').glob('[0-9][0-9]_*.ipynb'))


def test_facade_reexports_the_stages_names():
    stages = (exercise, assertions, checks, hints, instructor_only, release, sandbox, autograde, gradebook, report)
    for name in G.__all__:
        homes = [m for m in stages if name in m.__all__]
        assert homes and all(getattr(G, name) is getattr(m, name) for m in homes), name
    for name in (
        'check',
        'hint',
        'verify_exercise',
        'assert_close',
        'assert_shape',
        'grade',
        'release',
        'read_exercise',
        'Limits',
        'summary',
        'totals',
    ):
        assert name in G.__all__


def test_facade_import_is_light():
    "Every student notebook imports it first: no torch, numpy, pandas or nbclient."
    code = (
        "import sys\nfrom course_lib.grading import check, assert_close\n"
        "heavy = [m for m in ('torch', 'numpy', 'pandas', 'nbclient') if m in sys.modules]\nassert not heavy, heavy"
    )
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_exercises_follow_the_lessons():
    "Lesson N, its notebook and its exercise carry the same N and name."
    lessons = sorted((REPO / 'nbs' / 'lessons').glob('[0-9][0-9]_*.ipynb'))
    assert [e.name for e in EXERCISES] == [p.name for p in lessons]
    assert [e.stem[:2] for e in EXERCISES] == [f'{i:02d}' for i in range(1, len(EXERCISES) + 1)]
    for e in EXERCISES:
        ex = G.read_exercise(e)
        assert len(ex.questions) >= 6, e
        assert all(q.hidden.strip() and q.visible.strip() for q in ex.questions.values()), e


def all_wrong(path):
    "The instructor's notebook with every question answered by its first known-wrong answer."
    ex = G.read_exercise(path)
    first = {}
    for w in G.known_wrong(ex):
        first.setdefault(w.qid, w)
    nb = nbformat.from_dict(json.loads(json.dumps(ex.nb)))
    for w in first.values():
        cell = nb.cells[ex.questions[w.qid].answer_cell]
        cell.source = instructor_only.with_answer(cell.source, w.code)
    nb.cells = [c for c in nb.cells if not instructor_only.is_instructor_only(c)]
    return nb, set(first)


def totals(gb):
    return gb.groupby('student')[['points', 'max_points']].sum()


@pytest.fixture(scope='session')
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('release')
    G.release(EXERCISES, out)
    return out


@pytest.fixture(scope='session')
def real(release_dir, tmp_path_factory):
    subs = tmp_path_factory.mktemp('real_subs')
    for ex in EXERCISES:
        name = ex.stem
        shutil.copy(ex, subs / f'instructor__{name}.ipynb')
        shutil.copy(release_dir / 'student' / f'{name}.ipynb', subs / f'untouched__{name}.ipynb')
        nbformat.write(all_wrong(ex)[0], subs / f'wrong__{name}.ipynb')
    before = {p.name: p.read_bytes() for p in subs.iterdir()}
    out = tmp_path_factory.mktemp('real_graded')
    limits = G.Limits(cell_timeout=120, notebook_timeout=400, memory_mb=3000, max_output_chars=20000)
    gb = G.grade(subs, release_dir, out, jobs=2, limits=limits, progress=False, quiet=True)
    return dict(gb=gb, out=out, subs=subs, before=before)


@pytest.mark.slow
@pytest.mark.parametrize('name', [e.stem for e in EXERCISES])
def test_instructor_full_untouched_zero_wrong_zero(real, name):
    gb = real['gb']
    ex = G.read_exercise(REPO / 'nbs' / 'exercises' / f'{name}.ipynb')
    mx = ex.max_points
    t = totals(gb)
    inst = gb[gb.student == f'instructor__{name}']
    assert (inst.status == 'passed').all(), inst[['question', 'status', 'reason']].to_string()
    assert t.loc[f'instructor__{name}', 'points'] == mx
    unt = gb[gb.student == f'untouched__{name}']
    assert len(unt) == len(ex.questions) and (unt.points == 0).all()
    assert unt.reason.str.startswith('not answered').all(), unt.reason.tolist()
    wr = gb[gb.student == f'wrong__{name}'].set_index('question')
    assert sorted(wr.index) == sorted(ex.questions) and (wr.points == 0).all(), wr[['points', 'status', 'reason']]
    assert wr.status.isin(['failed', 'error']).all(), wr[['status', 'reason']]


@pytest.mark.slow
def test_real_outputs(real):
    out, gb = real['out'], real['gb']
    assert (out / 'gradebook.csv').read_text().startswith('student,assignment,question,points,max_points,status,reason')
    assert len(gb) == sum(3 * len(G.read_exercise(e).questions) for e in EXERCISES)
    # submissions are never modified
    assert {p.name: p.read_bytes() for p in real['subs'].iterdir()} == real['before']
    # feedback: visible test messages, no hidden test code
    fb = (out / 'feedback' / 'wrong__04_active_learning.md').read_text()  # q1's first wrong answer: least confidence
    assert 'q1' in fb and 'failed' in fb and 's.argsort().tolist() == [1, 2, 0]' in fb
    for e in EXERCISES:
        for q in G.read_exercise(e).questions.values():
            for line in q.hidden.splitlines():
                if len(line.strip()) > 25:
                    for f in (out / 'feedback').glob('*.md'):
                        assert line.strip() not in f.read_text(), (f, line)
