"""Tests of course_lib.grading, the grader's facade, and of the whole pipeline on the course's real exercises.

The real-exercise batch (slow; session fixture `real`, graded once with 2 workers): for each exercise of
nbs/exercises (real Imagenette images), the instructor's notebook, the untouched student release, and one
wrong (but running) answer per listed question.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_lib import assertions, autograde, checks, exercise, gradebook, grading as G, release, report, sandbox

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted((REPO / 'nbs' / 'exercises').glob('[0-9][0-9]_*.ipynb'))

# wrong (but running) answers: exercise -> [(question, replacement for its solution region)]
WRONG = {
    '01_transfer_learning': [('q4', 'return 0'), ('q9', 'return df.head(n_per_class * 10)')],
    '02_small_subsets': [('q3', 'return 0.0')],
    '03_progressive_resizing': [('q1', 'return [min_size] * n_epochs')],
    '04_active_learning': [('q5', "leaky = 'BD'")],
}


def test_facade_reexports_the_stages_names():
    stages = (exercise, assertions, checks, release, sandbox, autograde, gradebook, report)
    for name in G.__all__:
        homes = [m for m in stages if name in m.__all__]
        assert homes and all(getattr(G, name) is getattr(m, name) for m in homes), name
    for name in (
        'check',
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
    assert (
        [e.name for e in EXERCISES]
        == [p.name for p in lessons]
        == [
            '01_transfer_learning.ipynb',
            '02_small_subsets.ipynb',
            '03_progressive_resizing.ipynb',
            '04_active_learning.ipynb',
        ]
    )
    assert sorted(WRONG) == [e.stem for e in EXERCISES]
    for e in EXERCISES:
        ex = G.read_exercise(e)
        assert len(ex.questions) >= 5, e
        assert all(q.hidden.strip() and q.visible.strip() for q in ex.questions.values()), e
    ex1 = G.read_exercise(EXERCISES[0])
    assert list(ex1.questions) == [f'q{i}' for i in range(1, 13)]
    assert any(c.source.startswith('## Part B — the data behind the result') for c in ex1.nb.cells)


def replace_solution(nb, qid, new_code):
    "Copy of `nb` with question `qid`'s solution region replaced by `new_code` (same indentation)."
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for c in nb.cells:
        src = c.source
        if c.cell_type == 'code' and re.match(rf'#\| exercise: {qid}\b', src):
            m = re.search(r'^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?', src, re.S | re.M)
            c.source = src[: m.start()] + textwrap_indent(new_code, m.group(1)) + src[m.end() :]
            return nb
    raise KeyError(qid)


def textwrap_indent(code, ind):
    return ''.join(ind + line + '\n' for line in code.splitlines())


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
        for qid, code in WRONG[name]:
            wrong = replace_solution(nbformat.read(ex, as_version=4), qid, code)
            nbformat.write(wrong, subs / f'wrong_{qid}__{name}.ipynb')
    before = {p.name: p.read_bytes() for p in subs.iterdir()}
    out = tmp_path_factory.mktemp('real_graded')
    limits = G.Limits(cell_timeout=120, notebook_timeout=400, memory_mb=3000, max_output_chars=20000)
    gb = G.grade(subs, release_dir, out, jobs=2, limits=limits, progress=False, quiet=True)
    return dict(gb=gb, out=out, subs=subs, before=before)


@pytest.mark.slow
@pytest.mark.parametrize('name', [e.stem for e in EXERCISES])
def test_instructor_full_untouched_zero_one_wrong(real, name):
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
    for qid, _ in WRONG[name]:
        wr = gb[gb.student == f'wrong_{qid}__{name}'].set_index('question')
        assert wr.loc[qid, 'points'] == 0 and wr.loc[qid, 'status'] == 'failed', wr.loc[qid, 'reason']
        assert wr.points.sum() == mx - ex.questions[qid].points


@pytest.mark.slow
def test_real_outputs(real):
    out, gb = real['out'], real['gb']
    assert (out / 'gradebook.csv').read_text().startswith('student,assignment,question,points,max_points,status,reason')
    assert len(gb) == sum((2 + len(WRONG[e.stem])) * len(G.read_exercise(e).questions) for e in EXERCISES)
    # submissions are never modified
    assert {p.name: p.read_bytes() for p in real['subs'].iterdir()} == real['before']
    # feedback: visible test messages, no hidden test code
    fb = (out / 'feedback' / 'wrong_q1__03_progressive_resizing.md').read_text()
    assert 'q1' in fb and 'failed' in fb and 'assert s[0] == 64 and s[-1] == 128' in fb
    for e in EXERCISES:
        for q in G.read_exercise(e).questions.values():
            for line in q.hidden.splitlines():
                if len(line.strip()) > 25:
                    for f in (out / 'feedback').glob('*.md'):
                        assert line.strip() not in f.read_text(), (f, line)
