"""Tests of course_lib.autograde: grading one submission.

Fast tests check each stage on small fixture notebooks without a kernel: reading a submission, the plan (which
cells run, where each question's tests run), verdicts from test results. The slow ones check the time limits;
every crafted submission (bad files, runaway code, cheats) is graded in tests/test_corpus.py.
"""

import dataclasses
import json
import time

import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib.autograde import BadSubmission, _classify_submission, _plan, _result_row, _verdict, read_submission
from course_lib.autograde import STATUSES, grade_submission
from course_lib.checks import run_tests
from course_lib.exercise import read_exercise
from course_lib.release import build_release, load_bundles, release
from course_lib.sandbox import Limits

DEMO_CELLS = [
    "import os, time\nfrom course_lib.grading import check, assert_close\nbase = 3",
    '#| exercise: q1 points=2 hint="multiply by base"\ndef triple(x):\n    ### BEGIN SOLUTION\n    return base * x\n    ### END SOLUTION',
    "# tests: q1\nassert triple(2) == 6\n### BEGIN HIDDEN TESTS\nassert triple(0) == 0 and triple(-1) == -3\n### END HIDDEN TESTS",
    "#| exercise: q2 points=1\n### BEGIN SOLUTION\nvalue = 42\n### END SOLUTION",
    "# tests: q2\nassert value == 42\n### BEGIN HIDDEN TESTS\nassert isinstance(value, int) and value > 41\n### END HIDDEN TESTS",
    "#| exercise: q3 points=1\ndef add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
    "# tests: q3\nassert add(2, 3) == 5\n### BEGIN HIDDEN TESTS\nassert add('a', 'b') == 'ab'\n### END HIDDEN TESTS",
]
LIGHT = Limits(cell_timeout=4, notebook_timeout=60, memory_mb=400, max_output_chars=5000, preload=())


def _with(cells, i, src):
    cells = list(cells)
    cells[i] = src
    return cells


def write_nb(p, cells, kinds=None):
    kinds = kinds or ['code'] * len(cells)
    mk = {'code': new_code_cell, 'markdown': new_markdown_cell}
    nbformat.write(new_notebook(cells=[mk[k](c) for c, k in zip(cells, kinds)]), p)


def write_demo_class(d, loop_name='infinite_loop'):
    """The demo exercise released in d/release and a small class in d/subs (the path returned): instructor, untouched,
    moved cells, an exception, an endless loop, a malformed file."""
    write_nb(d / 'demo.ipynb', DEMO_CELLS)
    release([d / 'demo.ipynb'], d / 'release')
    subs = d / 'subs'
    subs.mkdir()
    shutil.copy(d / 'demo.ipynb', subs / 'instructor.ipynb')
    shutil.copy(d / 'release' / 'student' / 'demo.ipynb', subs / 'untouched.ipynb')
    write_nb(subs / 'moved.ipynb', [DEMO_CELLS[0], DEMO_CELLS[5], DEMO_CELLS[3], DEMO_CELLS[1]])
    write_nb(subs / 'exception.ipynb', [DEMO_CELLS[0], "#| exercise: q1 points=2\n1 / 0"] + DEMO_CELLS[2:])
    write_nb(
        subs / f'{loop_name}.ipynb', [DEMO_CELLS[0], "#| exercise: q1 points=2\nwhile True:\n    pass"] + DEMO_CELLS[2:]
    )
    (subs / 'malformed.ipynb').write_text('{"cells": [')
    return subs


def totals(gb):
    return gb.groupby('student')[['points', 'max_points']].sum()


# ---------------------------------------------------------------------------------------------- fast: no kernel
@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp('demo')
    write_nb(d / 'demo.ipynb', DEMO_CELLS)
    student, bundle = build_release(read_exercise(d / 'demo.ipynb'))
    return dict(dir=d, student=student, bundle=bundle)


def _sub(demo, name, cells, kinds=None):
    p = demo['dir'] / f'{name}.ipynb'
    write_nb(p, cells, kinds)
    return read_submission(p)


def _shape(steps):
    "Steps as 'cell:<answer id or ->' / 'tests:<qid>'."
    return [f"cell:{s[2] or '-'}" if s[0] == 'cell' else f'tests:{s[1]}' for s in steps]


def test_read_submission_rejects_what_is_not_a_notebook(tmp_path):
    cases = {
        b'': 'empty file',
        b'  \n': 'empty file',
        b'\x89PNG\r\n\x1a\n\x00\xff\xfe': 'not a notebook: the file is not UTF-8 text (binary file?)',
        b'{"cells": [ {"cell_type"': 'not a notebook: malformed JSON',
        b'[1, 2, 3]': 'not a notebook: JSON without notebook cells',
        b'{"nbformat": 3, "worksheets": []}': 'wrong nbformat version 3: this grader reads version 4 notebooks',
        b'{"nbformat": 4, "cells": {"a": 1}}': "not a notebook: 'cells' is not a list",
    }
    for content, why in cases.items():
        (tmp_path / 'x.ipynb').write_bytes(content)
        with pytest.raises(BadSubmission) as e:
            read_submission(tmp_path / 'x.ipynb')
        assert str(e.value).startswith(why), (content, str(e.value))
    with pytest.raises(BadSubmission, match='cannot read the file'):
        read_submission(tmp_path)


def test_read_submission_cleans_what_it_keeps(tmp_path):
    d = {
        'nbformat': 4,
        'nbformat_minor': 2,
        'metadata': {'course_exercise': {'name': 'demo'}},
        'cells': [
            {'cell_type': 'code', 'source': ['x = ', '1', 7], 'metadata': {'tags': ['a']}, 'outputs': [{'junk': 1}]},
            'not a cell',
            {'cell_type': 'heading', 'source': '# old'},
            {'cell_type': 'markdown', 'source': None, 'metadata': 'bad'},
        ],
    }
    (tmp_path / 's.ipynb').write_text(json.dumps(d))
    nb = read_submission(tmp_path / 's.ipynb')
    assert [(c.cell_type, c.source) for c in nb.cells] == [('code', 'x = 1'), ('raw', '# old'), ('markdown', '')]
    assert nb.cells[0].outputs == [] and nb.cells[0].metadata == {'tags': ['a']} and nb.cells[2].metadata == {}
    assert nb.metadata['course_exercise']['name'] == 'demo'


def test_classify_submission(demo):
    nb = nbformat.from_dict(json.loads(json.dumps(demo['student'])))
    nb.cells.append(new_code_cell(nb.cells[4].source.replace('# tests: q2\n', '', 1)))  # edited, unmarked: code
    nb.cells.append(new_markdown_cell('#| exercise: q9\nprose'))
    kinds, known = _classify_submission(nb, demo['bundle'])
    assert known == {'q1', 'q2', 'q3'}
    assert kinds == [
        ('code', None),
        ('answer', 'q1'),
        ('tests', None),
        ('answer', 'q2'),
        ('tests', None),
        ('answer', 'q3'),
        ('tests', None),
        ('code', None),
        ('other', 'q9'),
    ]


def test_plan_of_the_untouched_release(demo):
    steps, fixed, notes = _plan(demo['student'], demo['bundle'])
    # the submission's test cells never run: the grader runs the bundle's tests right after each answer
    assert _shape(steps) == ['cell:-', 'cell:q1', 'tests:q1', 'cell:q2', 'tests:q2', 'cell:q3', 'tests:q3']
    assert fixed == {} and notes == []
    assert steps[1][1] == demo['student'].cells[1].source


def test_plan_follows_answers_by_id(demo):
    moved = _sub(demo, 'moved', [DEMO_CELLS[0], DEMO_CELLS[5], DEMO_CELLS[3], DEMO_CELLS[1]])
    steps, fixed, notes = _plan(moved, demo['bundle'])
    assert _shape(steps) == ['cell:-', 'cell:q3', 'tests:q3', 'cell:q2', 'tests:q2', 'cell:q1', 'tests:q1']
    assert fixed == {} and notes == [
        'test cells edited or deleted for q1, q2, q3: ignored, the grader ran its own tests'
    ]
    dup = _sub(demo, 'dup', DEMO_CELLS[:5] + ["#| exercise: q2 points=1\nvalue = 7"] + DEMO_CELLS[5:])
    steps, fixed, notes = _plan(dup, demo['bundle'])
    assert _shape(steps) == ['cell:-', 'cell:q1', 'tests:q1', 'cell:q2', 'cell:q2', 'tests:q2', 'cell:q3', 'tests:q3']
    assert notes[0] == 'q2: the answer cell q2 appears 2 times; all ran in order and the tests ran after the last one'


@pytest.mark.parametrize(
    'name, make, reason',
    [
        (
            'deleted',
            lambda: (DEMO_CELLS[:1] + DEMO_CELLS[3:], None),
            'no answer cell for q1 (looked for `#| exercise: q1`)',
        ),
        (
            'renamed',
            lambda: (_with(DEMO_CELLS, 1, DEMO_CELLS[1].replace('exercise: q1', 'exercise: q1b')), None),
            "no answer cell for q1 (looked for `#| exercise: q1`); found answer cells with unknown ids ['q1b']: renamed?",
        ),
        (
            'retyped',
            lambda: (DEMO_CELLS, ['code', 'markdown'] + ['code'] * 5),
            'the answer cell for q1 is a markdown cell now, so it was not run (change it back to a code cell)',
        ),
    ],
)
def test_plan_fixes_missing_answers_before_running(demo, name, make, reason):
    cells, kinds = make()
    steps, fixed, _ = _plan(_sub(demo, name, cells, kinds), demo['bundle'])
    assert fixed == {'q1': ('missing', reason)}
    assert 'tests:q1' not in _shape(steps) and 'tests:q2' in _shape(steps)
    if name == 'renamed':  # the renamed cell still runs, as ordinary code
        assert 'cell:q1b' in _shape(steps)


def test_plan_runs_tests_after_the_setup_they_need(tmp_path):
    cells = [
        "base = 3",
        "#| exercise: q1\ndef triple(x):\n    ### BEGIN SOLUTION\n    return base * x\n    ### END SOLUTION",
        "expected = triple(2)",
        "# tests: q1\nassert expected == 6",
    ]
    write_nb(tmp_path / 'ex.ipynb', cells)
    student, bundle = build_release(read_exercise(tmp_path / 'ex.ipynb'))
    assert _shape(_plan(student, bundle)[0]) == ['cell:-', 'cell:q1', 'cell:-', 'tests:q1']
    # the answer moved below other code: its tests wait for the setup cell that the exercise had between them
    write_nb(tmp_path / 's1.ipynb', [cells[0], cells[1], 'other = 1', cells[2], 'later = 2'])
    assert _shape(_plan(read_submission(tmp_path / 's1.ipynb'), bundle)[0]) == [
        'cell:-',
        'cell:q1',
        'cell:-',
        'cell:-',
        'tests:q1',
        'cell:-',
    ]
    # ... and for the student's own test cell of that question, when it comes later still
    write_nb(tmp_path / 's2.ipynb', [cells[0], cells[1], cells[2], 'more = 1', student.cells[3].source, 'z = 0'])
    shape = _shape(_plan(read_submission(tmp_path / 's2.ipynb'), bundle)[0])
    assert shape == ['cell:-', 'cell:q1', 'cell:-', 'cell:-', 'tests:q1', 'cell:-']


def test_plan_notes_edited_setup_cells(demo):
    sub = _sub(demo, 'edited', [c.source for c in demo['student'].cells[1:]])
    assert _plan(sub, demo['bundle'])[2] == ["1 of the exercise's setup cells were edited or deleted"]


def test_verdicts(demo):
    q1 = demo['bundle']['questions'][0]

    def verdict(triple, state=('ok', '')):
        return _verdict(q1, state, run_tests(q1['visible'], {'triple': triple}, q1['hidden']))

    assert verdict(lambda x: 3 * x) == ('passed', 'all 2 tests passed')
    assert verdict(lambda x: 0) == (
        'failed',
        'visible test `assert triple(2) == 6` failed: got 0, expected 6 (2 of 2 tests did not pass)',
    )
    # a failing hidden test is named by its exception type only: its code stays hidden
    assert verdict(lambda x: 6 if x == 2 else x) == (
        'failed',
        'a hidden test failed: AssertionError (1 of 2 tests did not pass)',
    )
    assert verdict(lambda x: 6 if x == 2 else 1 / 0) == (
        'error',
        'a hidden test raised: ZeroDivisionError (1 of 2 tests did not pass)',
    )

    def stub(x):
        raise NotImplementedError('q1: multiply by base')

    assert verdict(stub) == ('error', 'not answered: NotImplementedError: q1: multiply by base')
    # how the answer cell itself ended comes first
    assert _verdict(q1, ('timeout', 'over the 4 s cell time limit'), []) == (
        'timeout',
        'the answer cell ran over the 4 s cell time limit',
    )
    assert _verdict(q1, ('dead', 'the kernel died (crash, or the memory limit)'), [])[1] == (
        'while running the answer cell the kernel died (crash, or the memory limit)'
    )
    assert _verdict(q1, ('error', 'NotImplementedError: q1: x'), []) == (
        'error',
        'not answered: the answer cell raised NotImplementedError: q1: x',
    )
    assert _verdict(q1, ('error', 'ZeroDivisionError: division by zero'), [])[1] == (
        'the answer cell raised ZeroDivisionError: division by zero'
    )
    assert _result_row(q1, 'passed', 'ok') == dict(
        question='q1', points=2, max_points=2, status='passed', reason='ok', tests=[]
    )
    assert _result_row(q1, 'failed', 'no')['points'] == 0


def test_a_bad_file_is_graded_to_zero_without_a_kernel(demo, tmp_path):
    (tmp_path / 'x.ipynb').write_text('[1, 2]')
    res = grade_submission(tmp_path / 'x.ipynb', demo['bundle'], LIGHT)
    assert res['fatal'] == 'not a notebook: JSON without notebook cells'
    assert [(r['question'], r['status'], r['points']) for r in res['questions']] == [
        ('q1', 'error', 0),
        ('q2', 'error', 0),
        ('q3', 'error', 0),
    ]


def test_plan_leaves_hand_graded_questions_to_a_human(demo):
    "A manual question (nbgrader: a hand-graded answer or a task) is never run: 0 points until a human grades it."
    bundle = json.loads(json.dumps(demo['bundle']))
    essay = dict(
        id='essay', points=3, manual=True, answer_ids=['essay'], visible='', hidden='', n_visible=0, n_hidden=0
    )
    task = dict(id='task', points=2, manual=True, answer_ids=[], visible='', hidden='', n_visible=0, n_hidden=0)
    bundle['questions'] += [essay, task]
    cells = DEMO_CELLS + ['#| exercise: essay\nMy answer, in words.']
    steps, fixed, notes = _plan(_sub(demo, 'essay', cells, ['code'] * 7 + ['markdown']), bundle)
    assert fixed == {'essay': ('manual', 'awaiting a human grade'), 'task': ('manual', 'awaiting a human grade')}
    assert 'tests:essay' not in _shape(steps) and 'tests:task' not in _shape(steps) and 'tests:q3' in _shape(steps)
    assert _result_row(essay, *fixed['essay']) == dict(
        question='essay', points=0, max_points=3, status='manual', reason='awaiting a human grade', tests=[]
    )
    assert 'manual' in STATUSES


def test_plan_runs_nbgrader_tests_where_their_grade_cell_is(demo):
    "nbgrader's test cells are known by their metadata; a test cell without answer cells of its own runs where it is."
    bundle = json.loads(json.dumps(demo['bundle']))
    bundle['questions'].append(
        dict(id='extra', points=1, answer_ids=[], visible='assert base == 3', hidden='', n_visible=1, n_hidden=0)
    )
    nb = _sub(demo, 'nbg', DEMO_CELLS[:2] + ['later = 1'] + DEMO_CELLS[2:3] + ['# just a check\nassert base == 3'])
    nb.cells[3].metadata['nbgrader'] = {'grade': True, 'solution': False, 'grade_id': 'q1', 'points': 2}
    nb.cells[4].metadata['nbgrader'] = {'grade': True, 'solution': False, 'grade_id': 'extra', 'points': 1}
    steps, fixed, _ = _plan(nb, bundle)
    assert _shape(steps) == ['cell:-', 'cell:q1', 'cell:-', 'tests:q1', 'tests:extra']
    assert set(fixed) == {'q2', 'q3'}


def test_worker_reads_its_job_from_stdin(demo, tmp_path):
    "The worker's job comes on stdin: the command line names no file, and none stays on disk."
    import subprocess
    import sys

    (tmp_path / 'x.ipynb').write_text('[1, 2]')
    job = dict(
        path=str(tmp_path / 'x.ipynb'),
        bundle=demo['bundle'],
        limits=dataclasses.asdict(LIGHT),
        result=str(tmp_path / 'r.json'),
        partial=str(tmp_path / 'p.json'),
    )
    cmd = [sys.executable, '-c', 'from course_lib.autograde import _worker_main; _worker_main()', '/dev/stdin']
    r = subprocess.run(cmd, input=json.dumps(job), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'r.json').read_text())
    assert res['fatal'] == 'not a notebook: JSON without notebook cells' and len(res['questions']) == 3
    # an older launcher's job file is read, then removed before anything else happens
    (tmp_path / 'r.json').unlink()
    (tmp_path / 'job.json').write_text(json.dumps(job))
    r = subprocess.run(cmd[:-1] + [str(tmp_path / 'job.json')], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'r.json').exists() and not (tmp_path / 'job.json').exists()


# ---------------------------------------------------------------------------------------------- slow: limits
# (the crafted submissions, bad files and cheats included, are graded in one batch in tests/test_corpus.py)
@pytest.fixture(scope='module')
def released(tmp_path_factory):
    d = tmp_path_factory.mktemp('released')
    write_nb(d / 'demo.ipynb', DEMO_CELLS)
    release([d / 'demo.ipynb'], d / 'release')
    write_nb(d / 'infinite_loop.ipynb', _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\nwhile True:\n    pass"))
    return dict(dir=d, bundle=load_bundles(d / 'release')['demo'])


@pytest.mark.slow
def test_cell_time_limit_stops_the_cell_on_time(released):
    "An endless answer cell is stopped at the cell limit, long before the notebook limit, and grading goes on."
    bundle = released['bundle']
    limits = dataclasses.replace(LIGHT, cell_timeout=3, notebook_timeout=120)
    t0 = time.monotonic()
    res = grade_submission(released['dir'] / 'infinite_loop.ipynb', bundle, limits)
    wall = time.monotonic() - t0
    rows = {r['question']: r for r in res['questions']}
    assert rows['q1']['status'] == 'timeout' and 'over the 3 s cell time limit' in rows['q1']['reason']
    assert rows['q2']['status'] == rows['q3']['status'] == 'passed'
    # the endless cell ran for the cell limit, not for the notebook's: the whole grading (kernel start
    # included) takes at least the 3 s it ran, and far less than the 120 s it would run unstopped
    assert limits.cell_timeout <= wall < limits.notebook_timeout / 3, wall


@pytest.mark.slow
def test_notebook_time_limit_ends_grading_on_time(released, tmp_path):
    "Many slow cells, each under the cell limit: grading stops at the notebook limit; later questions time out."
    bundle = released['bundle']
    limits = dataclasses.replace(LIGHT, notebook_timeout=20)
    write_nb(tmp_path / 'slow.ipynb', DEMO_CELLS[:3] + ["time.sleep(1)"] * 40 + DEMO_CELLS[3:])
    partial = tmp_path / 'partial.json'
    t0 = time.monotonic()
    res = grade_submission(tmp_path / 'slow.ipynb', bundle, limits, partial_path=partial)
    wall = time.monotonic() - t0
    rows = {r['question']: r for r in res['questions']}
    assert (rows['q1']['status'], rows['q1']['points']) == ('passed', 2)
    for q in ('q2', 'q3'):
        assert rows[q]['status'] == 'timeout' and rows[q]['points'] == 0
        assert 'the notebook time limit (20 s) was reached' in rows[q]['reason'], rows[q]['reason']
    assert limits.notebook_timeout <= wall < limits.notebook_timeout + 15, wall
    # what was graded before the limit was saved as it went
    assert [r['question'] for r in json.loads(partial.read_text())['questions']] == ['q1']


def test_plan_gives_zero_to_a_hand_graded_answer_still_equal_to_its_stub(demo):
    "As nbgrader: a manual answer left as released (whitespace aside) is 0, 'unanswered'; any change awaits a human."
    from course_lib.exercise import _sha

    bundle = json.loads(json.dumps(demo['bundle']))
    essay = dict(
        id='essay', points=3, manual=True, answer_ids=['essay'], visible='', hidden='', n_visible=0, n_hidden=0
    )
    bundle['questions'].append(dict(essay, stub_sha256=_sha('YOUR ANSWER HERE')))
    for text, reason in (
        ('YOUR ANSWER HERE\n', 'unanswered (still the released stub)'),
        ('YOUR ANSWER HERE, and mine.', 'awaiting a human grade'),
    ):
        nb = _sub(demo, 'essay', DEMO_CELLS + [text], ['code'] * 7 + ['markdown'])
        nb.cells[-1].metadata['nbgrader'] = {'grade': True, 'solution': True, 'grade_id': 'essay', 'points': 3}
        assert _plan(nb, bundle)[1]['essay'] == ('manual', reason)
