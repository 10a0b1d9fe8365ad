"""Tests of course_lib.autograde: grading one submission.

Fast tests check each stage on small fixture notebooks without a kernel: reading a submission, the plan (which
cells run, where each question's tests run), verdicts from test results. The slow ones grade a batch with a
submission for every bad-input case (session fixture `bad`, graded once with 2 workers) and check each outcome.
"""

import dataclasses
import hashlib
import json
import shutil
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib.autograde import BadSubmission, _classify_submission, _plan, _result_row, _verdict, read_submission
from course_lib.autograde import grade_submission
from course_lib.checks import run_tests
from course_lib.exercise import read_exercise
from course_lib.gradebook import grade
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


# ---------------------------------------------------------------------------------------------- slow: bad submissions
# name -> (how to make it, {question: (status, points, reason substring)})
BAD = {}


def bad_case(name, expect):
    def deco(fn):
        BAD[name] = (fn, expect)
        return fn

    return deco


def ALL_ERR(why):
    return {q: ('error', 0, why) for q in ('q1', 'q2', 'q3')}


OK23 = {'q2': ('passed', 1, 'all 2 tests passed'), 'q3': ('passed', 1, 'all 2 tests passed')}

bad_case('malformed', ALL_ERR('submission not gradable: not a notebook: malformed JSON'))(
    lambda p: p.write_text('{"cells": [ {"cell_type": "code", ')
)
bad_case('nbformat3', ALL_ERR('wrong nbformat version 3'))(
    lambda p: p.write_text(
        json.dumps({'nbformat': 3, 'nbformat_minor': 0, 'worksheets': [{'cells': []}], 'metadata': {}})
    )
)
bad_case('empty', ALL_ERR('submission not gradable: empty file'))(lambda p: p.write_bytes(b''))
bad_case('png', ALL_ERR('not a notebook: the file is not UTF-8 text'))(
    lambda p: p.write_bytes(b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe')
)
bad_case('jsonlist', ALL_ERR('not a notebook: JSON without notebook cells'))(lambda p: p.write_text('[1, 2, 3]'))
bad_case('infinite_loop', {'q1': ('timeout', 0, 'the answer cell ran over the 4 s cell time limit'), **OK23})(
    lambda p: write_nb(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\nwhile True:\n    pass"))
)
bad_case('ignores_sigint', {'q1': ('timeout', 0, 'over the 4 s cell time limit'), **OK23})(
    lambda p: write_nb(
        p,
        _with(
            DEMO_CELLS,
            1,
            "#| exercise: q1 points=2\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        ),
    )
)
bad_case('slow_function', {'q1': ('timeout', 0, 'the tests ran over the 4 s cell time limit'), **OK23})(
    lambda p: write_nb(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\ndef triple(x):\n    time.sleep(60)"))
)
bad_case('exception', {'q1': ('error', 0, 'the answer cell raised ZeroDivisionError: division by zero'), **OK23})(
    lambda p: write_nb(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\ndef triple(x):\n    return x\n1 / 0"))
)
bad_case('memory_bomb', {'q1': ('error', 0, 'the answer cell raised MemoryError'), **OK23})(
    lambda p: write_nb(
        p,
        _with(
            DEMO_CELLS, 1, "#| exercise: q1 points=2\nblob = bytearray(8 * 1024**3)\ndef triple(x):\n    return 3 * x"
        ),
    )
)
bad_case('kernel_crash', {'q1': ('error', 0, 'the kernel died'), **OK23})(
    lambda p: write_nb(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\nimport os\nos._exit(3)"))
)
bad_case('huge_output', {'q1': ('passed', 2, 'all 2 tests passed'), **OK23})(
    lambda p: write_nb(
        p,
        _with(
            DEMO_CELLS,
            1,
            DEMO_CELLS[1].replace('def triple', "print('x' * 30_000_000)\nfor i in range(3000): print(i)\ndef triple"),
        ),
    )
)
bad_case('deletes_files', {'q1': ('passed', 2, ''), **OK23})(
    lambda p: write_nb(
        p,
        _with(
            DEMO_CELLS,
            0,
            DEMO_CELLS[0]
            + "\nimport shutil\nfor f in os.listdir('.'):\n    shutil.rmtree(f) if os.path.isdir(f) else os.remove(f)\nassert not os.listdir('.')",
        ),
    )
)
bad_case(
    'cheater',
    {
        'q1': ('failed', 0, 'visible test `assert triple(2) == 6` failed: got 0, expected 6'),
        'q2': ('failed', 0, 'got 1, expected 42'),
        **{k: v for k, v in OK23.items() if k == 'q3'},
    },
)(
    lambda p: write_nb(
        p,
        [
            DEMO_CELLS[0],
            "#| exercise: q1 points=2\ndef triple(x):\n    return 0\n"
            "def check(*a, **k): pass\ndef assert_close(*a, **k): pass\n"
            "import course_lib.grading as g\ng.assert_close = g.run_tests = lambda *a, **k: []\n"
            "import course_lib.checks as c\nc.run_tests = c.split_tests = lambda *a, **k: []\nAssertionError = Exception",
            "# tests: q1\npass",
            "#| exercise: q2 points=1\nvalue = 1",
            DEMO_CELLS[5],
        ],
    )
)
bad_case(
    'fails_hidden', {'q1': ('failed', 0, 'a hidden test failed: AssertionError (1 of 2 tests did not pass)'), **OK23}
)(
    lambda p: write_nb(
        p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\ndef triple(x):\n    return 6 if x == 2 else x")
    )
)
# edited notebooks: answers found by id, not position
bad_case('deleted', {'q1': ('missing', 0, 'no answer cell for q1'), **OK23})(
    lambda p: write_nb(p, DEMO_CELLS[:1] + DEMO_CELLS[3:])
)
bad_case('moved', {'q1': ('passed', 2, ''), **OK23})(
    lambda p: write_nb(p, [DEMO_CELLS[0], DEMO_CELLS[5], DEMO_CELLS[3], DEMO_CELLS[1]])
)
bad_case('duplicated', {'q1': ('passed', 2, ''), 'q2': ('failed', 0, 'got 7, expected 42'), **{'q3': OK23['q3']}})(
    lambda p: write_nb(p, DEMO_CELLS[:5] + ["#| exercise: q2 points=1\nvalue = 7"] + DEMO_CELLS[5:])
)
bad_case(
    'renamed',
    {
        'q1': (
            'missing',
            0,
            "no answer cell for q1 (looked for `#| exercise: q1`); found answer cells with unknown ids ['q1b']: renamed?",
        ),
        **OK23,
    },
)(lambda p: write_nb(p, _with(DEMO_CELLS, 1, DEMO_CELLS[1].replace('exercise: q1', 'exercise: q1b'))))
bad_case('retyped', {'q1': ('missing', 0, 'the answer cell for q1 is a markdown cell now'), **OK23})(
    lambda p: write_nb(p, DEMO_CELLS, kinds=['code', 'markdown'] + ['code'] * 5)
)


@pytest.fixture(scope='session')
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp('bad')
    write_nb(d / 'demo.ipynb', DEMO_CELLS)
    release([d / 'demo.ipynb'], d / 'release')
    subs = d / 'subs'
    subs.mkdir()
    for name, (make, _) in BAD.items():
        make(subs / f'{name}.ipynb')
    shutil.copy(d / 'demo.ipynb', subs / 'instructor.ipynb')
    shutil.copy(d / 'release' / 'student' / 'demo.ipynb', subs / 'untouched.ipynb')
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.iterdir()}
    gb = grade(subs, d / 'release', d / 'graded', jobs=2, limits=LIGHT, progress=False, quiet=True)
    return dict(gb=gb, dir=d, subs=subs, before=before)


@pytest.mark.slow
@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_submission(bad, case):
    gb = bad['gb']
    rows = gb[gb.student == case].set_index('question')
    assert list(rows.index) == ['q1', 'q2', 'q3']
    for q, (status, points, why) in BAD[case][1].items():
        r = rows.loc[q]
        assert (r.status, r.points) == (status, points), (case, q, r.status, r.points, r.reason)
        assert why in r.reason, (case, q, r.reason)


@pytest.mark.slow
def test_bad_batch_overall(bad):
    gb, d = bad['gb'], bad['dir']
    t = totals(gb)
    assert t.loc['instructor', 'points'] == 4 and t.loc['untouched', 'points'] == 0
    assert set(gb.student) == set(BAD) | {'instructor', 'untouched'}
    # never modified
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bad['subs'].iterdir()} == bad['before']
    # no grading kernel or worker left behind
    import psutil

    left = [p for p in psutil.Process().children(recursive=True) if 'ipykernel' in ' '.join(p.cmdline())]
    assert not left, left
    fb = (d / 'graded' / 'feedback' / 'cheater.md').read_text()
    assert 'triple(0) == 0' not in fb and 'hidden tests: 0 of 1 passed' in fb
    assert 'test cells edited or deleted for q1, q2, q3' in fb
    dup = json.loads((d / 'graded' / 'results' / 'duplicated.json').read_text())
    assert any('appears 2 times' in n for n in dup['notes'])


@pytest.mark.slow
def test_failed_hidden_test_is_reported_as_a_count(bad):
    "Passing the visible test is not enough: the hidden one fails, and the feedback says how many, not which."
    fb = (bad['dir'] / 'graded' / 'feedback' / 'fails_hidden.md').read_text()
    assert '## q1: ❌ failed — 0 / 2' in fb
    assert '- ✓ `assert triple(2) == 6`' in fb
    assert 'hidden tests: 0 of 1 passed; hidden test 1 failed (AssertionError)' in fb
    assert 'triple(-1)' not in fb


@pytest.mark.slow
def test_cell_time_limit_stops_the_cell_on_time(bad, tmp_path):
    "An endless answer cell is stopped at the cell limit, long before the notebook limit, and grading goes on."
    bundle = load_bundles(bad['dir'] / 'release')['demo']
    limits = dataclasses.replace(LIGHT, cell_timeout=3, notebook_timeout=120)
    t0 = time.monotonic()
    res = grade_submission(bad['subs'] / 'infinite_loop.ipynb', bundle, limits)
    wall = time.monotonic() - t0
    rows = {r['question']: r for r in res['questions']}
    assert rows['q1']['status'] == 'timeout' and 'over the 3 s cell time limit' in rows['q1']['reason']
    assert rows['q2']['status'] == rows['q3']['status'] == 'passed'
    # the endless cell ran for the cell limit, not for the notebook's: the whole grading (kernel start
    # included) takes at least the 3 s it ran, and far less than the 120 s it would run unstopped
    assert limits.cell_timeout <= wall < limits.notebook_timeout / 3, wall


@pytest.mark.slow
def test_notebook_time_limit_ends_grading_on_time(bad, tmp_path):
    "Many slow cells, each under the cell limit: grading stops at the notebook limit; later questions time out."
    bundle = load_bundles(bad['dir'] / 'release')['demo']
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
