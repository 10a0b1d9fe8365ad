"""nbgrader's own example assignment, graded by course_lib as nbgrader's autograder graded it.

The data ships inside the nbgrader wheel on PyPI (nbgrader/docs/source/user_guide/): the instructor's
`source/ps1` (problem1: autograded answers and tests, a manually graded markdown answer, a manually graded code
answer, a task; problem2: two manually graded markdown answers; an image), nbgrader's own `release/ps1`, two
students' `submitted/<student>/ps1`, and `autograded/<student>/ps1`: the same notebooks after nbgrader's
autograder ran them, its verdict in each test cell's outputs. nbgrader is test data here, never imported: the
wheel is fetched with pip into the course cache (`<cache>/test-data`) once; if it cannot be fetched the tests
FAIL and say how to provide it.
"""

import csv
import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from course_lib.core import load_settings

NBGRADER = 'nbgrader==0.9.6'
WHEEL = 'nbgrader-0.9.6-py3-none-any.whl'
GUIDE = 'nbgrader/docs/source/user_guide/'
FOLDERS = ('source/ps1/', 'release/ps1/', 'submitted/', 'autograded/')
STUDENTS = ('bitdiddle', 'hacker')
NOTEBOOKS = ('problem1', 'problem2')


@pytest.fixture(scope='session')
def examples(tmp_path_factory):
    "A folder holding nbgrader's example source/ps1, release/ps1, submitted/ and autograded/ (from the wheel)."
    cache = load_settings(check_cache=False).cache_dir / 'test-data'
    wheel = cache / WHEEL
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', NBGRADER, '-d', str(cache)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            err = r.stderr[-1500:] if r.returncode else ''
        except (OSError, subprocess.TimeoutExpired) as e:
            err = str(e)
        if err or not wheel.is_file():
            pytest.fail(
                f"could not fetch the test data ({NBGRADER}'s example assignment) with `{' '.join(cmd)}`:\n{err}\n"
                f"Without network access, put {WHEEL} (from PyPI) into {cache} by hand."
            )
    root = tmp_path_factory.mktemp('nbgrader_examples')
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            rel = name[len(GUIDE) :]
            if name.startswith(GUIDE) and rel.startswith(FOLDERS) and '..' not in rel and not name.endswith('/'):
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(z.read(name))
    return root


def nbgrader_grades(path) -> dict:
    "{grade_id: (points or None for a human to grade, max points)} as nbgrader's autograder left them in a notebook."
    out = {}
    for c in nbformat.read(path, as_version=4).cells:
        md = c.metadata.get('nbgrader', {})
        if not (md.get('grade') or md.get('task')):
            continue
        mx = float(md['points'])
        if md.get('solution') or md.get('task') or c.cell_type != 'code':
            out[md['grade_id']] = (None, mx)  # graded by a human in nbgrader too
            continue
        bad = any(o.output_type == 'error' or (o.output_type == 'stream' and o.name == 'stderr') for o in c.outputs)
        assert not any(o.output_type == 'execute_result' for o in c.outputs), 'partial credit: not in these examples'
        out[md['grade_id']] = (0.0 if bad else mx, mx)
    return out


def test_release_matches_nbgrader_s_own(examples, tmp_path):
    "course_lib's release of source/ps1 holds the cells of nbgrader's release/ps1 (which adds a 3-cell header)."
    from course_lib.release import release

    release(sorted((examples / 'source' / 'ps1').glob('*.ipynb')), tmp_path / 'rel')
    for name in NOTEBOOKS:
        ours = nbformat.read(tmp_path / 'rel' / 'student' / f'{name}.ipynb', as_version=4).cells
        theirs = nbformat.read(examples / 'release' / 'ps1' / f'{name}.ipynb', as_version=4).cells[3:]
        assert [c.source for c in ours] == [c.source for c in theirs], name
        assert [c.cell_type for c in ours] == [c.cell_type for c in theirs], name
        for a, b in zip(ours, theirs):
            for flag in ('editable', 'deletable'):
                assert a.metadata.get(flag, True) == b.metadata.get(flag, True), (name, flag, b.source[:40])
    assert (tmp_path / 'rel' / 'student' / 'jupyter.png').read_bytes() == (
        examples / 'source' / 'ps1' / 'jupyter.png'
    ).read_bytes()
    b = json.loads((tmp_path / 'rel' / 'grader' / 'problem1.json').read_text())
    assert {q['namespace'] for q in b['questions']} == {'real'}
    manual = [(q['id'], q['points']) for q in b['questions'] if q.get('manual')]
    assert manual == [('sum_of_squares_equation', 1), ('sum_of_squares_application', 2), ('cell-938593c4a215c6cc', 4)]


def test_autotest_assignments_are_refused_with_a_reason(examples):
    from course_lib.exercise import ExerciseFormatError, read_exercise

    src = examples / 'source' / 'ps1' / 'problem1.ipynb'
    nb = nbformat.read(src, as_version=4)
    nb.cells[5].source += '\n### AUTOTEST squares(1)'
    nbformat.write(nb, src.with_name('autotest.ipynb'))
    try:
        with pytest.raises(ExerciseFormatError, match=r"### AUTOTEST lines \(lines 6\) are not supported"):
            read_exercise(src.with_name('autotest.ipynb'))
    finally:
        src.with_name('autotest.ipynb').unlink()


@pytest.fixture(scope='module')
def graded(examples):
    "The README's commands, verbatim, from the examples' folder: release source/ps1, grade submitted/."
    exe = shutil.which('course')
    assert exe, 'the `course` console script is installed (pip install -e .)'
    for cmd in (
        [exe, 'release', 'source/ps1', '--out', 'release'],
        [exe, 'grade', 'submitted', '--out', 'graded', '--bundle', 'release', '--jobs', '2', '--no-progress'],
    ):
        r = subprocess.run(cmd, cwd=examples, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stdout + r.stderr
    import pandas as pd

    return dict(gb=pd.read_csv(examples / 'graded' / 'gradebook.csv'), out=examples / 'graded', summary=r.stdout)


@pytest.mark.slow
def test_same_scores_as_nbgrader_s_autograder(examples, graded):
    gb = graded['gb'].set_index(['student', 'assignment', 'question'])
    table = []
    for student in STUDENTS:
        for name in NOTEBOOKS:
            for gid, (points, mx) in nbgrader_grades(
                examples / 'autograded' / student / 'ps1' / f'{name}.ipynb'
            ).items():
                row = gb.loc[(student, name, gid)]
                table.append((student, gid, points, row.points, row.status))
                assert row.max_points == mx, (student, gid)
                if points is None:
                    assert (row.status, row.points, row.reason) == ('manual', 0, 'awaiting a human grade'), (
                        student,
                        gid,
                    )
                else:
                    assert row.points == points, (student, gid, row.status, row.reason)
    print('\nstudent    question                       nbgrader  ours')
    for student, gid, theirs, ours, status in table:
        print(f"{student:10} {gid:30} {'manual' if theirs is None else f'{theirs:g}':8}  {ours:g} ({status})")
    assert len(gb) == len(table) == 2 * (7 + 2)  # every question of both notebooks, nothing else


@pytest.mark.slow
def test_totals_notes_and_hand_grades(examples, graded):
    out = graded['out']
    totals = {r['student']: r for r in csv.DictReader(open(out / 'totals.csv'))}
    assert {s: (float(t['points']), float(t['max_points'])) for s, t in totals.items()} == {
        'bitdiddle': (1.5, 13.0),
        'hacker': (3.0, 13.0),
    }
    assert totals['hacker']['awaiting_manual'] == '5'
    # the "test cells edited" note fires for the student who edited them, not for an untouched nbgrader submission
    notes = {s: json.loads((out / 'results' / f'{s}__ps1__problem1.json').read_text())['notes'] for s in STUDENTS}
    assert not [n for n in notes['hacker'] if 'test cells edited' in n], notes['hacker']
    assert [n for n in notes['bitdiddle'] if 'test cells edited' in n and 'correct_squares' in n], notes['bitdiddle']
    # hand grades: fill in the todo list, grade again (results reused), totals include them
    todo = (out / 'manual_todo.csv').read_text().splitlines()
    assert todo[0] == 'student,assignment,question,points,max_points,comment' and len(todo) == 1 + 2 * 5
    filled = [todo[0]] + [line.replace(',,', ',1,', 1) for line in todo[1:]]  # 1 point for every manual answer
    (examples / 'grades.csv').write_text('\n'.join(filled) + '\n')
    cmd = [
        'course',
        'grade',
        'submitted',
        '--out',
        'graded',
        '--bundle',
        'release',
        '--manual',
        'grades.csv',
        '--no-progress',
    ]
    r = subprocess.run(cmd, cwd=examples, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and '0 graded, 4 reused from an earlier run' in r.stdout, r.stdout + r.stderr
    totals = {r['student']: r for r in csv.DictReader(open(out / 'totals.csv'))}
    assert float(totals['bitdiddle']['points']) == 6.5 and totals['bitdiddle']['awaiting_manual'] == '0'
    assert 'graded by hand' in (out / 'feedback' / 'hacker.md').read_text()
