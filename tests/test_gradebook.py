"""Tests of course_lib.gradebook: finding submissions, resumable results, feedback and gradebook formatting
(fast, from result dicts), and (slow) grading small classes with parallel workers."""

import json
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib.autograde import _result_row
from course_lib.gradebook import (
    _complete,
    _feedback_md,
    _gradebook,
    _match_bundle,
    _match_bundle_by_name,
    _plan_batch,
    _result_key,
    _safe,
    _student_id,
    find_submissions,
    grade,
    summary,
)
from course_lib.release import load_bundles, release
from course_lib.sandbox import Limits
from test_autograde import DEMO_CELLS, LIGHT, write_nb

BUNDLE = {'name': 'demo', 'questions': [{'id': 'q1', 'points': 2}, {'id': 'q2', 'points': 1}]}
TESTS = [
    dict(kind='visible', label='assert triple(2) == 6', status='passed', message='', etype=''),
    dict(kind='visible', label='assert triple(3) == 9', status='failed', message='got 3, expected 9', etype='X'),
    dict(kind='hidden', label='assert triple(-1) == -3', status='failed', message='got -1', etype='AssertionError'),
    dict(kind='hidden', label='assert triple(0) == 0', status='passed', message='', etype=''),
]


def _result(student='alice', **kw):
    q1, q2 = BUNDLE['questions']
    res = dict(
        student=student,
        assignment='demo',
        notes=[],
        fatal='',
        questions=[_result_row(q1, 'failed', 'visible test failed', TESTS), _result_row(q2, 'passed', 'all passed')],
    )
    res.update(kw)
    return res


# ---------------------------------------------------------------------------------------------- fast
def test_find_submissions_and_student_ids(tmp_path):
    for name in ('alice.ipynb', 'bob/ex1.ipynb', 'bob/notes.txt', '.ipynb_checkpoints/alice-checkpoint.ipynb'):
        (tmp_path / 'subs' / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / 'subs' / name).write_text('{}')
    subs = find_submissions([tmp_path / 'subs'])
    assert [(s, p.relative_to(tmp_path / 'subs').as_posix()) for s, p in subs] == [
        ('alice', 'alice.ipynb'),
        ('bob/ex1', 'bob/ex1.ipynb'),
    ]
    assert find_submissions([tmp_path / 'subs' / 'bob' / 'ex1.ipynb']) == [
        ('ex1', tmp_path / 'subs' / 'bob' / 'ex1.ipynb')
    ]
    assert _student_id(tmp_path / 'elsewhere.ipynb', tmp_path / 'subs') == 'elsewhere'
    assert _safe('bob/ex 1') == 'bob__ex_1'
    with pytest.raises(ValueError, match=r"same student id \['alice'\]"):
        find_submissions([tmp_path / 'subs' / 'alice.ipynb', tmp_path / 'subs'])
    with pytest.raises(FileNotFoundError, match='submission'):
        find_submissions([tmp_path / 'missing.ipynb'])


def test_feedback_page():
    fb = _feedback_md(
        _result(notes=['test cells edited or deleted for q1: ignored, the grader ran its own tests']), BUNDLE
    )
    assert fb.splitlines()[:4] == ['# Feedback: alice — demo', '', '**Score: 1 / 3**', '']
    assert '- Note: test cells edited or deleted for q1' in fb
    assert '## q1: ❌ failed — 0 / 2\n\nvisible test failed\n' in fb and '## q2: ✅ passed — 1 / 1' in fb
    assert '- ✓ `assert triple(2) == 6`\n- ✗ `assert triple(3) == 9` — got 3, expected 9' in fb
    # hidden tests: how many passed, and the exception type of those that did not; never their code or message
    assert '- hidden tests: 1 of 2 passed; hidden test 1 failed (AssertionError)' in fb
    assert 'triple(-1)' not in fb and 'triple(0)' not in fb and 'got -1' not in fb
    fatal = _feedback_md(_result(fatal='empty file'), BUNDLE)
    assert '> The notebook could not be graded: empty file' in fatal
    for status, icon in (('error', '⚠️'), ('timeout', '⏱️'), ('missing', '❔')):
        res = _result(questions=[_result_row(BUNDLE['questions'][0], status, 'why')])
        assert f'## q1: {icon} {status} — 0 / 2' in _feedback_md(res, BUNDLE)


def test_gradebook_table_and_summary(tmp_path):
    gb = _gradebook([_result('bob'), _result('alice')], {'demo': BUNDLE})
    assert list(gb.columns) == ['student', 'assignment', 'question', 'points', 'max_points', 'status', 'reason']
    assert list(gb.student) == ['alice', 'alice', 'bob', 'bob'] and list(gb.points) == [0, 1, 0, 1]
    assert gb.to_csv(index=False).splitlines()[1] == 'alice,demo,q1,0,2,failed,visible test failed'
    s = summary(gb, wall=2.5, n_graded=1, n_reused=1, out=tmp_path)
    assert 'Grades (points / max):' in s and 'Question outcomes: failed 2, passed 2' in s
    assert 'Mean score: 33.3% of the points' in s and '1 graded, 1 reused from an earlier run, in 2.5 s' in s
    assert f"Wrote {tmp_path / 'gradebook.csv'} and {tmp_path / 'feedback'}/" in s
    assert _gradebook([], {}).empty


def test_incomplete_worker_results_are_completed(tmp_path):
    lim = Limits(notebook_timeout=60)
    (tmp_path / 'p.json').write_text(json.dumps(_result(questions=[_result_row(BUNDLE['questions'][1], 'passed', '')])))
    res = _complete(tmp_path / 'none.json', tmp_path / 'p.json', BUNDLE, lim, wall=3.0, returncode=-9)
    assert [(r['question'], r['status'], r['reason']) for r in res['questions']] == [
        ('q1', 'error', 'the grading worker stopped (exit code -9)'),
        ('q2', 'passed', ''),
    ]
    res = _complete(tmp_path / 'none.json', tmp_path / 'none.json', BUNDLE, lim, wall=61.0, returncode=-9)
    assert [r['status'] for r in res['questions']] == ['timeout', 'timeout']
    assert res['questions'][0]['reason'] == 'the notebook time limit (60 s) was reached'
    (tmp_path / 'r.json').write_text(json.dumps({'questions': 'as the worker wrote them'}))
    assert _complete(tmp_path / 'r.json', tmp_path / 'p.json', BUNDLE, lim, 1.0, 0) == {
        'questions': 'as the worker wrote them'
    }


def test_submissions_are_matched_to_their_exercise():
    bundles = {'ex1': {'name': 'ex1', 'questions': [{'id': 'a'}]}, 'ex10': {'name': 'ex10', 'questions': [{'id': 'b'}]}}
    meta = nbformat.from_dict({'cells': [], 'metadata': {'course_exercise': {'name': 'ex1'}}})
    assert _match_bundle(meta, 'ex10_alice.ipynb', bundles)['name'] == 'ex1'  # the metadata wins
    blank = nbformat.from_dict({'cells': [new_code_cell('#| exercise: b\nx = 1')], 'metadata': {}})
    assert _match_bundle(blank, 'alice_ex10.ipynb', bundles)['name'] == 'ex10'  # the longest name in the file name
    assert _match_bundle(blank, 'alice.ipynb', bundles)['name'] == 'ex10'  # the answer ids it holds
    assert _match_bundle(blank, 'alice.ipynb', {'ex1': bundles['ex1']})['name'] == 'ex1'  # the only one
    assert _match_bundle_by_name('alice_ex1.ipynb', bundles)['name'] == 'ex1'
    assert _match_bundle_by_name('alice.ipynb', bundles)['name'] == 'ex1'


def test_stored_results_are_reused_while_their_key_matches(tmp_path):
    write_nb(tmp_path / 'demo.ipynb', DEMO_CELLS)
    release([tmp_path / 'demo.ipynb'], tmp_path / 'rel')
    bundles = load_bundles(tmp_path / 'rel')
    subs_dir = tmp_path / 'subs'
    subs_dir.mkdir()
    shutil.copy(tmp_path / 'demo.ipynb', subs_dir / 'ann.ipynb')
    (subs_dir / 'bob.ipynb').write_text('not json')
    subs = find_submissions([subs_dir])
    out = tmp_path / 'out'
    (out / 'results').mkdir(parents=True)
    results, todo = _plan_batch(subs, bundles, LIGHT, out, force=False)
    assert results == {} and [(s, b['name']) for s, _, b, _ in todo] == [('ann', 'demo'), ('bob', 'demo')]
    key = todo[0][3]
    assert key == _result_key(subs_dir / 'ann.ipynb', bundles['demo'], LIGHT)
    (out / 'results' / 'ann.json').write_text(json.dumps({'key': key, 'student': 'ann'}))
    (out / 'results' / 'bob.json').write_text('{')  # a half-written result: graded again
    results, todo = _plan_batch(subs, bundles, LIGHT, out, force=False)
    assert results == {'ann': {'key': key, 'student': 'ann'}} and [t[0] for t in todo] == ['bob']
    assert [t[0] for t in _plan_batch(subs, bundles, LIGHT, out, force=True)[1]] == ['ann', 'bob']
    # other limits, an edited submission or another bundle: a different key, so graded again
    assert _result_key(subs_dir / 'ann.ipynb', bundles['demo'], Limits(cell_timeout=5)) != key
    (subs_dir / 'ann.ipynb').write_text((subs_dir / 'ann.ipynb').read_text() + '\n')
    assert _result_key(subs_dir / 'ann.ipynb', bundles['demo'], LIGHT) != key


def test_bad_inputs_to_grade(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        grade(tmp_path, tmp_path / 'nope', tmp_path / 'out', progress=False, quiet=True)
    write_nb(tmp_path / 'demo.ipynb', DEMO_CELLS)
    release([tmp_path / 'demo.ipynb'], tmp_path / 'rel')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no submissions'):
        grade(tmp_path / 'empty', tmp_path / 'rel', tmp_path / 'out', progress=False, quiet=True)
    with pytest.raises(FileNotFoundError, match='submission'):
        grade([tmp_path / 'missing.ipynb'], tmp_path / 'rel', tmp_path / 'out', progress=False, quiet=True)


# ---------------------------------------------------------------------------------------------- slow: real batches
@pytest.fixture(scope='module')
def batch(tmp_path_factory):
    d = tmp_path_factory.mktemp('batch')
    write_nb(d / 'demo.ipynb', DEMO_CELLS)
    release([d / 'demo.ipynb'], d / 'release')
    subs = d / 'subs'
    subs.mkdir()
    shutil.copy(d / 'demo.ipynb', subs / 'instructor.ipynb')
    shutil.copy(d / 'release' / 'student' / 'demo.ipynb', subs / 'untouched.ipynb')
    write_nb(subs / 'moved.ipynb', [DEMO_CELLS[0], DEMO_CELLS[5], DEMO_CELLS[3], DEMO_CELLS[1]])
    write_nb(subs / 'exception.ipynb', [DEMO_CELLS[0], "#| exercise: q1 points=2\n1 / 0"] + DEMO_CELLS[2:])
    write_nb(
        subs / 'infinite_loop.ipynb',
        [DEMO_CELLS[0], "#| exercise: q1 points=2\nwhile True:\n    pass"] + DEMO_CELLS[2:],
    )
    (subs / 'malformed.ipynb').write_text('{"cells": [')
    gb = grade(subs, d / 'release', d / 'graded', jobs=2, limits=LIGHT, progress=False, quiet=True)
    return dict(gb=gb, dir=d, subs=subs)


@pytest.mark.slow
def test_batch_outputs(batch):
    d, gb = batch['dir'], batch['gb']
    t = gb.groupby('student').points.sum()
    assert t.to_dict() == {
        'exception': 2,
        'infinite_loop': 2,
        'instructor': 4,
        'malformed': 0,
        'moved': 4,
        'untouched': 0,
    }
    assert (d / 'graded' / 'gradebook.csv').read_text().startswith('student,assignment,question,points,max_points')
    assert sorted(p.name for p in (d / 'graded' / 'feedback').iterdir()) == [f'{s}.md' for s in sorted(t.index)]
    assert sorted(p.name for p in (d / 'graded' / 'results').iterdir()) == [f'{s}.json' for s in sorted(t.index)]
    res = json.loads((d / 'graded' / 'results' / 'moved.json').read_text())
    assert res['student'] == 'moved' and res['submission'] == str(batch['subs'] / 'moved.ipynb') and res['key']


@pytest.mark.slow
def test_regrade_identical_and_resume(batch):
    d = batch['dir']
    first = (d / 'graded' / 'gradebook.csv').read_bytes()
    # resume: results of an interrupted run are reused; only the missing one is graded again
    (d / 'graded' / 'results' / 'exception.json').unlink()
    grade(batch['subs'], d / 'release', d / 'graded', jobs=2, limits=LIGHT, progress=False, quiet=True)
    assert (d / 'graded' / 'gradebook.csv').read_bytes() == first
    res = json.loads((d / 'graded' / 'results' / 'exception.json').read_text())
    assert res['questions'][0]['status'] == 'error'
    # a fresh full regrade of a few gives the same grades
    sub2 = d / 'subs2'
    sub2.mkdir()
    for n in ('moved', 'exception', 'infinite_loop', 'malformed'):
        shutil.copy(batch['subs'] / f'{n}.ipynb', sub2)
    gb2 = grade(sub2, d / 'release', d / 'graded2', jobs=2, limits=LIGHT, progress=False, quiet=True)
    old = batch['gb'][batch['gb'].student.isin(gb2.student)].reset_index(drop=True)
    assert gb2.reset_index(drop=True).equals(old)


@pytest.mark.slow
def test_nbgrader_notebook(tmp_path):
    "An nbgrader-authored notebook: released, instructor version full marks, student release zero."

    def cell(src, **md):
        c = new_code_cell(src)
        if md:
            c.metadata['nbgrader'] = dict(schema_version=3, locked=False, **md)
        return c

    nb = new_notebook(
        cells=[
            cell("import math"),
            cell(
                "def squares(n):\n    ### BEGIN SOLUTION\n    return [i * i for i in range(1, n + 1)]\n    ### END SOLUTION",
                grade=False,
                solution=True,
                grade_id='squares',
            ),
            cell(
                "assert squares(3) == [1, 4, 9]\n### BEGIN HIDDEN TESTS\nassert squares(0) == []\n### END HIDDEN TESTS",
                grade=True,
                solution=False,
                grade_id='correct_squares',
                points=2,
            ),
            cell("assert len(squares(5)) == 5", grade=True, solution=False, grade_id='squares_length', points=1),
        ]
    )
    nbformat.write(nb, tmp_path / 'nbg.ipynb')
    release([tmp_path / 'nbg.ipynb'], tmp_path / 'rel')
    stu = (tmp_path / 'rel' / 'student' / 'nbg.ipynb').read_text()
    assert 'i * i for i' not in stu and 'squares(0) == []' not in stu
    subs = tmp_path / 'subs'
    subs.mkdir()
    shutil.copy(tmp_path / 'nbg.ipynb', subs / 'teacher.ipynb')
    shutil.copy(tmp_path / 'rel' / 'student' / 'nbg.ipynb', subs / 'student.ipynb')
    gb = grade(subs, tmp_path / 'rel', tmp_path / 'out', jobs=2, limits=LIGHT, progress=False, quiet=True)
    t = gb.groupby('student')[['points', 'max_points']].sum()
    assert t.loc['teacher', 'points'] == 3 and t.loc['student', 'points'] == 0
