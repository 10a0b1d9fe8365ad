"""Tests of course_lib.grading: exercise format, release, check(), batch grading (real exercises + bad inputs).

Two graded batches are shared by many tests (session fixtures, graded once with 2 workers):
- `real`: the four exercise notebooks of nbs/exercises (real Imagenette images): instructor, untouched student
  release, and one wrong answer each;
- `bad`: a small exercise written here, with a submission for every bad-input case.
"""

import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell

from course_lib import grading as G

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted((REPO / 'nbs' / 'exercises').glob('ex*.ipynb'))

# one wrong (but running) answer per exercise: (question, replacement for its solution region)
WRONG = {
    'ex01_data': ('q3', 'return df.head(n_per_class * 10)'),
    'ex02_transfer': ('q4', 'return 0'),
    'ex03_subsets': ('q3', 'return 0.0'),
    'ex04_resizing': ('q1', 'return [min_size] * n_epochs'),
}


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
    return ''.join(ind + l + '\n' for l in code.splitlines())


def totals(gb):
    return gb.groupby('student')[['points', 'max_points']].sum()


# ---------------------------------------------------------------------------------------------- real exercises
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
        qid, code = WRONG[name]
        nbformat.write(replace_solution(nbformat.read(ex, as_version=4), qid, code), subs / f'wrong__{name}.ipynb')
    before = {p.name: p.read_bytes() for p in subs.iterdir()}
    out = tmp_path_factory.mktemp('real_graded')
    limits = G.Limits(cell_timeout=120, notebook_timeout=400, memory_mb=3000, max_output_chars=20000)
    gb = G.grade(subs, release_dir, out, jobs=2, limits=limits, progress=False, quiet=True)
    return dict(gb=gb, out=out, subs=subs, before=before)


def test_exercises_exist_with_five_questions():
    assert [e.stem for e in EXERCISES] == ['ex01_data', 'ex02_transfer', 'ex03_subsets', 'ex04_resizing']
    for e in EXERCISES:
        ex = G.read_exercise(e)
        assert len(ex.questions) >= 5, e
        assert all(q.hidden.strip() and q.visible.strip() for q in ex.questions.values()), e


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
    qid, _ = WRONG[name]
    wr = gb[gb.student == f'wrong__{name}'].set_index('question')
    assert wr.loc[qid, 'points'] == 0 and wr.loc[qid, 'status'] == 'failed'
    assert wr.points.sum() == mx - ex.questions[qid].points


def test_real_outputs(real):
    out, gb = real['out'], real['gb']
    assert (out / 'gradebook.csv').read_text().startswith('student,assignment,question,points,max_points,status,reason')
    assert len(gb) == 3 * sum(len(G.read_exercise(e).questions) for e in EXERCISES)
    # submissions are never modified
    assert {p.name: p.read_bytes() for p in real['subs'].iterdir()} == real['before']
    # feedback: visible test messages, no hidden test code
    fb = (out / 'feedback' / 'wrong__ex04_resizing.md').read_text()
    assert 'q1' in fb and 'failed' in fb and 'assert s[0] == 64 and s[-1] == 128' in fb
    for e in EXERCISES:
        for q in G.read_exercise(e).questions.values():
            for line in q.hidden.splitlines():
                if len(line.strip()) > 25:
                    for f in (out / 'feedback').glob('*.md'):
                        assert line.strip() not in f.read_text(), (f, line)


def test_release_is_deterministic_and_leak_free(release_dir, tmp_path):
    G.release(EXERCISES, tmp_path / 'again')
    for sub in ('student', 'grader'):
        for f in (release_dir / sub).iterdir():
            assert f.read_bytes() == (tmp_path / 'again' / sub / f.name).read_bytes(), f
    for e in EXERCISES:
        ex = G.read_exercise(e)
        student = (release_dir / 'student' / f'{e.stem}.ipynb').read_text()
        nb = nbformat.reads(student, as_version=4)
        assert all(c.get('outputs', []) == [] for c in nb.cells)
        visible_text = ''.join(
            ''.join(t for k, t, _ in G._regions(G._src(c), {'solution', 'hidden'}, e.name, i) if k == 'code')
            for i, c in enumerate(ex.nb.cells)
            if c.cell_type == 'code'
        )
        secret = []
        for i, c in enumerate(ex.nb.cells):
            if c.cell_type == 'code':
                secret += [t for k, t, _ in G._regions(G._src(c), {'solution', 'hidden'}, e.name, i) if k != 'code']
        assert secret
        for block in secret:
            for line in block.splitlines():
                s = line.strip()
                if len(s) >= 15 and s not in visible_text:
                    assert s not in student, (e.name, s)
                    assert json.dumps(s)[1:-1] not in student, (e.name, s)
        bundle = json.loads((release_dir / 'grader' / f'{e.stem}.json').read_text())
        assert {q['id'] for q in bundle['questions']} == set(ex.questions)
        assert all(q['hidden'] for q in bundle['questions'])
        assert set(bundle['locked']['tests']) == set(ex.questions)


def test_check_in_student_notebook_is_friendly(release_dir, tmp_path):
    "Run the student release (unanswered) and one answered question: check() prints verdicts, no traceback."
    from nbclient import NotebookClient

    src = release_dir / 'student' / 'ex04_resizing.ipynb'
    nb = nbformat.read(src, as_version=4)
    for c in nb.cells:  # answer q3 correctly, q4 wrongly
        if c.source.startswith('#| exercise: q3'):
            c.source = (
                c.source.split('\n')[0]
                + '\ndef relative_cost(schedule, full_size):\n    return sum(s * s for s in schedule) / (len(schedule) * full_size ** 2)\n'
            )
        if c.source.startswith('#| exercise: q4'):
            c.source = c.source.split('\n')[0] + '\ndef time_to_accuracy(history, target):\n    return 99.0\n'
    NotebookClient(nb, timeout=300, allow_errors=True, resources={'metadata': {'path': str(tmp_path)}}).execute()
    outs = {}
    for c in nb.cells:
        m = re.match(r'# tests: (\w+)', c.source)
        if m:
            assert not [o for o in c.outputs if o.output_type == 'error'], c.outputs
            outs[m.group(1)] = ''.join(o.get('text', '') for o in c.outputs)
    assert 'Traceback' not in ''.join(outs.values())
    assert (
        outs['q3'].startswith('✅ q3: all 2 visible tests passed') and '1 hidden test will run at grading' in outs['q3']
    )
    assert '❌ q4: 0 of 2 visible tests passed' in outs['q4'] and 'got 99.0, expected 25.0' in outs['q4']
    assert outs['q1'].startswith('⏳ q1: not answered yet (NotImplementedError: q1: np.linspace')


def test_check_is_tensor_aware(capsys):
    import torch

    ns = dict(torch=torch, x=torch.tensor([[1.0, 2.0], [3.0, 4.0]]), assert_close=None)
    G.check(
        't1',
        "assert_close(x, torch.tensor([[1., 2.], [3., 4.5]]))\nassert x.dtype == torch.int64\n"
        "assert x.shape == (2, 3)\nassert torch.allclose(x, x + 1)",
        n_hidden=3,
        ns=ns,
    )
    out = capsys.readouterr().out
    assert out.startswith('❌ t1: 0 of 4 visible tests passed')
    assert 'max abs difference 0.5' in out and '[1,1] got 4 expected 4.5' in out
    assert 'got torch.float32, expected torch.int64' in out
    assert 'got torch.Size([2, 2]), expected (2, 3)' in out
    assert '4 of 4 values differ' in out
    assert '3 hidden tests will run at grading' in out and 'Traceback' not in out
    G.check('nothing-registered-xyz')
    assert 'no visible tests known' in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- format errors
def _nb(tmp_path, *cells, name='bad.ipynb'):
    p = tmp_path / name
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), p)
    return p


SOL = '#| exercise: q1 points=2\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION'


@pytest.mark.parametrize(
    'cells, expected',
    [
        (
            ['#| exercise: q1\n### BEGIN SOLUTION\nx = 1'],
            'cell 0, line 2: ### BEGIN SOLUTION on line 2 is never closed',
        ),
        (
            ['#| exercise: q1\nx = 1\n### END SOLUTION', '# tests: q1\nassert x'],
            'cell 0, line 3: \'### END SOLUTION\' without a matching',
        ),
        ([SOL, '# tests: q1\n### BEGIN HIDDEN TEST\nassert x\n### END HIDDEN TEST'], 'cell 1, line 2: unknown marker'),
        (
            [SOL, '# tests: q1\n### BEGIN SOLUTION\n### END SOLUTION'],
            'cell 1, line 2: \'### BEGIN SOLUTION\' is only allowed in an answer cell',
        ),
        (
            [SOL, '# tests: q1\nassert x', SOL, '# tests: q1\nassert x'],
            "cell 2: duplicate answer id 'q1' (also cell 0)",
        ),
        ([SOL], "cell 0: question 'q1' has no tests"),
        (['#| exercise: q1\nx = 1', '# tests: q1\nassert x'], 'cell 0: answer cell \'q1\' has no ### BEGIN SOLUTION'),
        (['# tests: q1\nassert x', SOL], "cell 0: tests for 'q1' come before its answer cell"),
        ([SOL, '# tests: q2\nassert x'], "cell 1: test cell for unknown question 'q2'"),
        ([SOL, '# tests: q1\nx = 2'], "cell 1: question 'q1': its test cells contain no test"),
        (
            ['#| exercise: q1 pts=2\n### BEGIN SOLUTION\n### END SOLUTION'],
            "cell 0, line 1: unknown exercise option 'pts=2'",
        ),
        (['x = 1\n#| exercise: q1\n'], 'cell 0, line 2: \'#| exercise: q1\' must be the first line'),
        (['# test: q1\nassert x'], "cell 0, line 1: unknown marker '# test: q1'"),
        (
            [SOL, '# tests: q1\n### BEGIN HIDDEN TESTS\nassert x\n### BEGIN HIDDEN TESTS\n'],
            'cell 1, line 4: \'### BEGIN HIDDEN TESTS\' inside an open hidden region',
        ),
    ],
)
def test_format_errors_name_notebook_cell_line(tmp_path, cells, expected):
    p = _nb(tmp_path, *cells)
    with pytest.raises(G.ExerciseFormatError) as e:
        G.read_exercise(p)
    assert str(e.value).startswith('bad.ipynb, '), str(e.value)
    assert expected in str(e.value), str(e.value)
    # the release command fails too and writes nothing
    with pytest.raises(G.ExerciseFormatError):
        G.release([p], tmp_path / 'rel')
    assert not (tmp_path / 'rel').exists()


# ---------------------------------------------------------------------------------------------- bad submissions
DEMO_CELLS = [
    "import os, time\nfrom course_lib.grading import check, assert_close\nbase = 3",
    '#| exercise: q1 points=2 hint="multiply by base"\ndef triple(x):\n    ### BEGIN SOLUTION\n    return base * x\n    ### END SOLUTION',
    "# tests: q1\nassert triple(2) == 6\n### BEGIN HIDDEN TESTS\nassert triple(0) == 0 and triple(-1) == -3\n### END HIDDEN TESTS",
    "#| exercise: q2 points=1\n### BEGIN SOLUTION\nvalue = 42\n### END SOLUTION",
    "# tests: q2\nassert value == 42\n### BEGIN HIDDEN TESTS\nassert isinstance(value, int) and value > 41\n### END HIDDEN TESTS",
    "#| exercise: q3 points=1\ndef add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
    "# tests: q3\nassert add(2, 3) == 5\n### BEGIN HIDDEN TESTS\nassert add('a', 'b') == 'ab'\n### END HIDDEN TESTS",
]
LIGHT = G.Limits(cell_timeout=4, notebook_timeout=60, memory_mb=400, max_output_chars=5000, preload=())


def _with(cells, i, src):
    cells = list(cells)
    cells[i] = src
    return cells


def _write(p, cells, kinds=None):
    kinds = kinds or ['code'] * len(cells)
    mk = {'code': new_code_cell, 'markdown': new_markdown_cell}
    nbformat.write(new_notebook(cells=[mk[k](c) for c, k in zip(cells, kinds)]), p)


# name -> (how to make it, {question: (status, points, reason substring)})
BAD = {}


def bad_case(name, expect):
    def deco(fn):
        BAD[name] = (fn, expect)
        return fn

    return deco


ALL_ERR = lambda why: {q: ('error', 0, why) for q in ('q1', 'q2', 'q3')}
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
    lambda p: _write(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\nwhile True:\n    pass"))
)
bad_case('ignores_sigint', {'q1': ('timeout', 0, 'over the 4 s cell time limit'), **OK23})(
    lambda p: _write(
        p,
        _with(
            DEMO_CELLS,
            1,
            "#| exercise: q1 points=2\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        ),
    )
)
bad_case('slow_function', {'q1': ('timeout', 0, 'the tests ran over the 4 s cell time limit'), **OK23})(
    lambda p: _write(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\ndef triple(x):\n    time.sleep(60)"))
)
bad_case('exception', {'q1': ('error', 0, 'the answer cell raised ZeroDivisionError: division by zero'), **OK23})(
    lambda p: _write(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\ndef triple(x):\n    return x\n1 / 0"))
)
bad_case('memory_bomb', {'q1': ('error', 0, 'the answer cell raised MemoryError'), **OK23})(
    lambda p: _write(
        p,
        _with(
            DEMO_CELLS, 1, "#| exercise: q1 points=2\nblob = bytearray(8 * 1024**3)\ndef triple(x):\n    return 3 * x"
        ),
    )
)
bad_case('kernel_crash', {'q1': ('error', 0, 'the kernel died'), **OK23})(
    lambda p: _write(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\nimport os\nos._exit(3)"))
)
bad_case('huge_output', {'q1': ('passed', 2, 'all 2 tests passed'), **OK23})(
    lambda p: _write(
        p,
        _with(
            DEMO_CELLS,
            1,
            DEMO_CELLS[1].replace('def triple', "print('x' * 30_000_000)\nfor i in range(3000): print(i)\ndef triple"),
        ),
    )
)
bad_case('deletes_files', {'q1': ('passed', 2, ''), **OK23})(
    lambda p: _write(
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
    'notebook_timeout',
    {
        'q1': ('passed', 2, ''),
        'q2': ('timeout', 0, 'the notebook time limit (60 s) was reached'),
        'q3': ('timeout', 0, 'the notebook time limit (60 s) was reached'),
    },
)(lambda p: _write(p, DEMO_CELLS[:3] + ["time.sleep(3.5)"] * 18 + DEMO_CELLS[3:]))
bad_case(
    'cheater',
    {
        'q1': ('failed', 0, 'visible test `assert triple(2) == 6` failed: got 0, expected 6'),
        'q2': ('failed', 0, 'got 1, expected 42'),
        **{k: v for k, v in OK23.items() if k == 'q3'},
    },
)(
    lambda p: _write(
        p,
        [
            DEMO_CELLS[0],
            "#| exercise: q1 points=2\ndef triple(x):\n    return 0\n"
            "def check(*a, **k): pass\ndef assert_close(*a, **k): pass\n"
            "import course_lib.grading as g\ng.assert_close = g.run_tests = lambda *a, **k: []\nAssertionError = Exception",
            "# tests: q1\npass",
            "#| exercise: q2 points=1\nvalue = 1",
            DEMO_CELLS[5],
        ],
    )
)
bad_case(
    'fails_hidden', {'q1': ('failed', 0, 'a hidden test failed: AssertionError (1 of 2 tests did not pass)'), **OK23}
)(lambda p: _write(p, _with(DEMO_CELLS, 1, "#| exercise: q1 points=2\ndef triple(x):\n    return 6 if x == 2 else x")))
# edited notebooks: answers found by id, not position
bad_case('deleted', {'q1': ('missing', 0, 'no answer cell for q1'), **OK23})(
    lambda p: _write(p, DEMO_CELLS[:1] + DEMO_CELLS[3:])
)
bad_case('moved', {'q1': ('passed', 2, ''), **OK23})(
    lambda p: _write(p, [DEMO_CELLS[0], DEMO_CELLS[5], DEMO_CELLS[3], DEMO_CELLS[1]])
)
bad_case('duplicated', {'q1': ('passed', 2, ''), 'q2': ('failed', 0, 'got 7, expected 42'), **{'q3': OK23['q3']}})(
    lambda p: _write(p, DEMO_CELLS[:5] + ["#| exercise: q2 points=1\nvalue = 7"] + DEMO_CELLS[5:])
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
)(lambda p: _write(p, _with(DEMO_CELLS, 1, DEMO_CELLS[1].replace('exercise: q1', 'exercise: q1b'))))
bad_case('retyped', {'q1': ('missing', 0, 'the answer cell for q1 is a markdown cell now'), **OK23})(
    lambda p: _write(p, DEMO_CELLS, kinds=['code', 'markdown'] + ['code'] * 5)
)


@pytest.fixture(scope='session')
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp('bad')
    _write(d / 'demo.ipynb', DEMO_CELLS)
    G.release([d / 'demo.ipynb'], d / 'release')
    subs = d / 'subs'
    subs.mkdir()
    for name, (make, _) in BAD.items():
        make(subs / f'{name}.ipynb')
    shutil.copy(d / 'demo.ipynb', subs / 'instructor.ipynb')
    shutil.copy(d / 'release' / 'student' / 'demo.ipynb', subs / 'untouched.ipynb')
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.iterdir()}
    gb = G.grade(subs, d / 'release', d / 'graded', jobs=2, limits=LIGHT, progress=False, quiet=True)
    return dict(gb=gb, dir=d, subs=subs, before=before)


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_submission(bad, case):
    gb = bad['gb']
    rows = gb[gb.student == case].set_index('question')
    assert list(rows.index) == ['q1', 'q2', 'q3']
    for q, (status, points, why) in BAD[case][1].items():
        r = rows.loc[q]
        assert (r.status, r.points) == (status, points), (case, q, r.status, r.points, r.reason)
        assert why in r.reason, (case, q, r.reason)


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


def test_failed_hidden_test_is_reported_as_a_count(bad):
    "Passing the visible test is not enough: the hidden one fails, and the feedback says how many, not which."
    fb = (bad['dir'] / 'graded' / 'feedback' / 'fails_hidden.md').read_text()
    assert '## q1: ❌ failed — 0 / 2' in fb
    assert '- ✓ `assert triple(2) == 6`' in fb
    assert 'hidden tests: 0 of 1 passed; hidden test 1 failed (AssertionError)' in fb
    assert 'triple(-1)' not in fb


def test_cell_time_limit_stops_the_cell_on_time(bad, tmp_path):
    "An endless answer cell is stopped at the cell limit, long before the notebook limit, and grading goes on."
    import dataclasses
    import time

    bundle = G.load_bundles(bad['dir'] / 'release')['demo']
    limits = dataclasses.replace(LIGHT, cell_timeout=3, notebook_timeout=120)
    t0 = time.monotonic()
    res = G.grade_submission(bad['subs'] / 'infinite_loop.ipynb', bundle, limits)
    wall = time.monotonic() - t0
    rows = {r['question']: r for r in res['questions']}
    assert rows['q1']['status'] == 'timeout' and 'over the 3 s cell time limit' in rows['q1']['reason']
    assert rows['q2']['status'] == rows['q3']['status'] == 'passed'
    # the endless cell ran for the cell limit, not for the notebook's: the whole grading (kernel start
    # included) takes at least the 3 s it ran, and far less than the 120 s it would run unstopped
    assert limits.cell_timeout <= wall < limits.notebook_timeout / 3, wall


def test_regrade_identical_and_resume(bad):
    d = bad['dir']
    first = (d / 'graded' / 'gradebook.csv').read_bytes()
    # resume: results of an interrupted run are reused; only the missing one is graded again
    (d / 'graded' / 'results' / 'exception.json').unlink()
    gb = G.grade(bad['subs'], d / 'release', d / 'graded', jobs=2, limits=LIGHT, progress=False, quiet=True)
    assert (d / 'graded' / 'gradebook.csv').read_bytes() == first
    res = json.loads((d / 'graded' / 'results' / 'exception.json').read_text())
    assert res['questions'][0]['status'] == 'error'
    # a fresh full regrade of a few gives the same grades
    sub2 = d / 'subs2'
    sub2.mkdir()
    for n in ('moved', 'cheater', 'infinite_loop', 'malformed'):
        shutil.copy(bad['subs'] / f'{n}.ipynb', sub2)
    gb2 = G.grade(sub2, d / 'release', d / 'graded2', jobs=2, limits=LIGHT, progress=False, quiet=True)
    old = bad['gb'][bad['gb'].student.isin(gb2.student)].reset_index(drop=True)
    assert gb2.reset_index(drop=True).equals(old)


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
    ex = G.read_exercise(tmp_path / 'nbg.ipynb')
    assert ex.fmt == 'nbgrader' and list(ex.questions) == ['correct_squares', 'squares_length']
    assert ex.max_points == 3
    G.release([tmp_path / 'nbg.ipynb'], tmp_path / 'rel')
    stu = (tmp_path / 'rel' / 'student' / 'nbg.ipynb').read_text()
    assert 'i * i for i' not in stu and 'squares(0) == []' not in stu
    subs = tmp_path / 'subs'
    subs.mkdir()
    shutil.copy(tmp_path / 'nbg.ipynb', subs / 'teacher.ipynb')
    shutil.copy(tmp_path / 'rel' / 'student' / 'nbg.ipynb', subs / 'student.ipynb')
    gb = G.grade(subs, tmp_path / 'rel', tmp_path / 'out', jobs=2, limits=LIGHT, progress=False, quiet=True)
    t = totals(gb)
    assert t.loc['teacher', 'points'] == 3 and t.loc['student', 'points'] == 0


def test_bad_inputs_to_grade(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        G.load_bundles(tmp_path / 'nope')
    (tmp_path / 'x.json').write_text('{"a": 1}')
    with pytest.raises(ValueError, match='not a grader bundle'):
        G.load_bundles(tmp_path / 'x.json')
    with pytest.raises(FileNotFoundError, match='submission'):
        G.find_submissions([tmp_path / 'missing.ipynb'])
