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
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

from course_lib.core import load_settings
from course_lib.report import UNANSWERED

NBGRADER = 'nbgrader==0.9.6'
WHEEL = 'nbgrader-0.9.6-py3-none-any.whl'
GUIDE = 'nbgrader/docs/source/user_guide/'
FOLDERS = ('source/ps1/', 'source/ps1_autotest/', 'release/ps1/', 'submitted/', 'autograded/')
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


def nbgrader_checksum(cell) -> str:
    "nbgrader's cell checksum (nbgrader.utils.compute_checksum), rewritten here: nbgrader is never imported."
    md = cell.metadata['nbgrader']
    parts = [cell.source, cell.cell_type, *(str(bool(md.get(k))) for k in ('grade', 'solution', 'locked'))]
    parts += [md['grade_id']] + ([str(float(md['points']))] if md.get('grade') else [])
    return hashlib.md5(''.join(parts).encode('utf-8')).hexdigest()


def nbgrader_grades(path) -> dict:
    "{grade_id: (points or None for a human to grade, max points)} as nbgrader's autograder left them in a notebook."
    out = {}
    for c in nbformat.read(path, as_version=4).cells:
        md = c.metadata.get('nbgrader', {})
        if not (md.get('grade') or md.get('task')):
            continue
        mx = float(md['points'])
        if md.get('solution') and md.get('checksum') == nbgrader_checksum(c):
            out[md['grade_id']] = (0.0, mx)  # an answer left as released: nbgrader gives 0 (utils.determine_grade)
            continue
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


@pytest.mark.slow
def test_autotest_example_is_expanded_and_graded(examples, tmp_path):
    "nbgrader's own AUTOTEST example (source/ps1_autotest): released with generated asserts, graded like any test."
    import pandas as pd

    src = examples / 'source' / 'ps1_autotest' / 'problem1.ipynb'
    cmd = [shutil.which('course'), 'release', str(src), '--out', str(tmp_path / 'rel')]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    stu = nbformat.read(tmp_path / 'rel' / 'student' / 'problem1.ipynb', as_version=4)
    tests = {
        c.metadata['nbgrader']['grade_id']: c.source for c in stu.cells if c.metadata.get('nbgrader', {}).get('grade')
    }
    assert not [g for g, t in tests.items() if 'AUTOTEST' in t]
    assert tests['correct_squares'].count('assert sha1(str(') == 4  # ### HASHED AUTOTEST squares(3): list, 4 checks
    assert (
        'assert str(squares(1)) == """[1]"""' in tests['correct_squares']
        and '[1, 4, 9]' not in tests['correct_squares']
    )
    b = json.loads((tmp_path / 'rel' / 'grader' / 'problem1.json').read_text())
    n = {q['id']: q['n_visible'] for q in b['questions'] if not q.get('manual')}
    assert n == {
        'correct_squares': 12,
        'squares_invalid_input': 4,
        'correct_sum_of_squares': 8,
        'sum_of_squares_uses_squares': 2,
        'cell-6e9ff83aa5dfaf17': 7,
    }
    subs = tmp_path / 'subs'
    for who in ('reference', 'wrong'):
        (subs / who).mkdir(parents=True)
    shutil.copy(src, subs / 'reference' / 'problem1.ipynb')
    nb = nbformat.read(src, as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace('i ** 2 for i', 'i * 2 for i')  # squares(n) wrong for n > 2
    assert 'i * 2 for i' in nb.cells[2].source
    nbformat.write(nb, subs / 'wrong' / 'problem1.ipynb')
    cmd = [shutil.which('course'), 'grade', str(subs), '--bundle', str(tmp_path / 'rel'), '--out', str(tmp_path / 'g')]
    r = subprocess.run(cmd + ['--jobs', '2', '--no-progress'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    gb = pd.read_csv(tmp_path / 'g' / 'gradebook.csv').set_index(['student', 'question'])
    auto = [q for q in n if q != 'cell-6e9ff83aa5dfaf17']
    assert [gb.loc[('reference', q), 'points'] for q in auto] == [1, 1, 0.5, 0.5]
    assert [gb.loc[('wrong', q), 'status'] for q in auto] == ['failed', 'passed', 'failed', 'passed']
    assert gb.loc[('wrong', 'correct_squares'), 'points'] == 0


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
                elif row.status == 'manual':  # nbgrader's automatic 0 for an untouched hand-graded answer
                    assert (points, row.points, row.reason) == (0, 0, UNANSWERED), (student, gid)
                else:
                    assert row.points == points, (student, gid, row.status, row.reason)
    print('\nstudent    question                       nbgrader  ours')
    for student, gid, theirs, ours, status in table:
        print(f"{student:10} {gid:30} {'manual' if theirs is None else f'{theirs:g}':8}  {ours:g} ({status})")
    assert len(gb) == len(table) == 2 * (7 + 2)  # every question of both notebooks, nothing else
    assert ('bitdiddle', 'sum_of_squares_application', 0, 0, 'manual') in table  # the one left untouched


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
    assert todo[0] == 'student,assignment,question,points,max_points,comment' and len(todo) == 1 + 5 + 4
    assert not [line for line in todo if line.startswith('bitdiddle,problem1,sum_of_squares_application')]
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
    assert float(totals['bitdiddle']['points']) == 5.5 and totals['bitdiddle']['awaiting_manual'] == '0'
    assert 'graded by hand' in (out / 'feedback' / 'hacker.md').read_text()
