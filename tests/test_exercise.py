"""Tests of course_lib.exercise: reading instructor notebooks (comment markers, nbgrader metadata) and their errors.

Fixture notebooks are written to tmp; nothing here starts a kernel.
"""

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib import checks
from course_lib.exercise import ExerciseFormatError, read_exercise, split_tests
from course_lib.release import release


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
    with pytest.raises(ExerciseFormatError) as e:
        read_exercise(p)
    assert str(e.value).startswith('bad.ipynb, '), str(e.value)
    assert expected in str(e.value), str(e.value)
    # the release command fails too and writes nothing
    with pytest.raises(ExerciseFormatError):
        release([p], tmp_path / 'rel')
    assert not (tmp_path / 'rel').exists()


@pytest.mark.parametrize(
    'cells, expected',
    [
        (['#| exercise: 1q\n### BEGIN SOLUTION\n### END SOLUTION'], "question id '1q' must be letters"),
        (['#| exercise: q1 points=two\n### BEGIN SOLUTION\n### END SOLUTION'], "points='two' is not a number"),
        (['#| exercise: q1 points=-1\n### BEGIN SOLUTION\n### END SOLUTION'], 'points must be positive'),
        ([SOL, '# tests: q1 q2\nassert x'], 'a test cell names exactly one question'),
        ([SOL, '# tests: q1\nassert (x'], "visible tests of 'q1' are not valid Python"),
        (['import os\n### BEGIN SOLUTION\n### END SOLUTION'], 'is only allowed in an answer cell'),
        (['import os'], 'no questions'),
    ],
)
def test_more_format_errors(tmp_path, cells, expected):
    with pytest.raises(ExerciseFormatError, match='bad.ipynb') as e:
        read_exercise(_nb(tmp_path, *cells))
    assert expected in str(e.value), str(e.value)


def test_unreadable_notebook(tmp_path):
    (tmp_path / 'bad.ipynb').write_text('{"cells": [')
    with pytest.raises(ExerciseFormatError, match='bad.ipynb: cannot read the notebook'):
        read_exercise(tmp_path / 'bad.ipynb')


def test_questions_kinds_points_and_tests(tmp_path):
    p = tmp_path / 'hw3.ipynb'
    cells = [
        new_markdown_cell('# Homework'),
        new_code_cell('import math'),
        new_code_cell(
            '#| exercise: q1 points=2 hint="use math.sqrt"\ndef root(x):\n    ### BEGIN SOLUTION\n'
            '    return math.sqrt(x)\n    ### END SOLUTION'
        ),
        new_code_cell(
            '# tests: q1\nassert root(4) == 2\n### BEGIN HIDDEN TESTS\nassert root(9) == 3\n### END HIDDEN TESTS'
        ),
        new_code_cell('y = root(16)'),
        new_code_cell('# tests: q1\nassert y == 4'),
        new_code_cell('#| exercise: q2 points=0.5\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION'),
        new_code_cell('# tests: q2\nprint(answer)\nassert answer == 42'),
    ]
    nbformat.write(new_notebook(cells=cells), p)
    ex = read_exercise(p)
    assert ex.name == 'hw3' and ex.fmt == 'markers' and read_exercise(p, name='other').name == 'other'
    assert ex.kinds == [
        ('markdown', None),
        ('setup', None),
        ('answer', 'q1'),
        ('tests', 'q1'),
        ('setup', None),
        ('tests', 'q1'),
        ('answer', 'q2'),
        ('tests', 'q2'),
    ]
    q1, q2 = ex.questions['q1'], ex.questions['q2']
    assert list(ex.questions) == ['q1', 'q2'] and ex.max_points == 2.5
    assert (q1.points, q1.hint, q1.answer_ids, q1.answer_cell, q1.test_cells) == (2, 'use math.sqrt', ['q1'], 2, [3, 5])
    # the visible tests of every test cell of a question, in order; the hidden ones apart
    assert q1.visible == 'assert root(4) == 2\nassert y == 4' and q1.hidden == 'assert root(9) == 3\n'
    assert q2.points == 0.5 and q2.hidden == ''


def _nbg_cell(src, **md):
    c = new_code_cell(src)
    if md:
        c.metadata['nbgrader'] = dict(schema_version=3, locked=False, **md)
    return c


def nbgrader_squares(path):
    "A small nbgrader-authored notebook: a solution cell `squares`, a 2-point test cell with a hidden block, a 1-point one."
    nb = new_notebook(
        cells=[
            _nbg_cell("import math"),
            _nbg_cell(
                "def squares(n):\n    ### BEGIN SOLUTION\n    return [i * i for i in range(1, n + 1)]\n    ### END SOLUTION",
                grade=False,
                solution=True,
                grade_id='squares',
            ),
            _nbg_cell(
                "assert squares(3) == [1, 4, 9]\n### BEGIN HIDDEN TESTS\nassert squares(0) == []\n### END HIDDEN TESTS",
                grade=True,
                solution=False,
                grade_id='correct_squares',
                points=2,
            ),
            _nbg_cell("assert len(squares(5)) == 5", grade=True, solution=False, grade_id='squares_length', points=1),
        ]
    )
    nbformat.write(nb, path)
    return path


def test_nbgrader_notebook_is_read(tmp_path):
    nbgrader_squares(tmp_path / 'nbg.ipynb')
    ex = read_exercise(tmp_path / 'nbg.ipynb')
    assert ex.fmt == 'nbgrader' and list(ex.questions) == ['correct_squares', 'squares_length']
    assert ex.max_points == 3
    q = ex.questions['correct_squares']
    assert q.answer_ids == ['squares'] and q.answer_cell == 1 and q.hidden == 'assert squares(0) == []\n'
    assert ex.questions['squares_length'].answer_ids == ['squares']


@pytest.mark.parametrize(
    'cells, expected',
    [
        ([_nbg_cell('assert 1', grade=True, solution=False, grade_id='t', points=1)], 'has no solution cell before it'),
        (
            [_nbg_cell('### BEGIN SOLUTION\nx = 1\n### END SOLUTION', grade=False, solution=True, grade_id='a')],
            "solution cell 'a' has no test cell after it",
        ),
        (
            [
                _nbg_cell('x = 1', solution=True, grade=False, grade_id='a'),
                _nbg_cell('assert x', grade=True, solution=False, grade_id='t', points=-1),
            ],
            "'t' has negative points (-1)",
        ),
        (
            [
                _nbg_cell('x = 1\n### AUTOTEST x', solution=True, grade=False, grade_id='a'),
                _nbg_cell('assert x == 1', grade=True, solution=False, grade_id='t', points=1),
            ],
            "cell 0, line 2: ### AUTOTEST is only allowed in an nbgrader test cell",
        ),
        ([_nbg_cell('x = 1', solution=True, grade=False)], 'nbgrader solution cell without grade_id'),
        (
            [
                _nbg_cell('x = 1', solution=True, grade=False, grade_id='a'),
                _nbg_cell('', grade=True, solution=False, grade_id='t', points=1),
            ],
            "nbgrader test cell 't' is empty",
        ),
    ],
)
def test_nbgrader_errors(tmp_path, cells, expected):
    nbformat.write(new_notebook(cells=cells), tmp_path / 'nbg.ipynb')
    with pytest.raises(ExerciseFormatError, match='nbg.ipynb') as e:
        read_exercise(tmp_path / 'nbg.ipynb')
    assert expected in str(e.value), str(e.value)


def test_nbgrader_manual_answers_tasks_and_unmarked_solutions(tmp_path):
    def md_cell(src, **md):
        c = new_markdown_cell(src)
        c.metadata['nbgrader'] = dict(schema_version=3, **md)
        return c

    cells = [
        _nbg_cell('def f(x):\n    return 2 * x', solution=True, grade=False, grade_id='f'),  # no BEGIN/END SOLUTION
        _nbg_cell('assert f(1) == 2', grade=True, solution=False, grade_id='test_f', points=1),
        _nbg_cell('assert f(0) == 0', grade=True, solution=False, grade_id='test_f0', points=0),  # 0 points: allowed
        md_cell('Because.', solution=True, grade=True, grade_id='essay', points=2, locked=False),
        _nbg_cell('def g():\n    pass', solution=True, grade=True, grade_id='code_by_hand', points=1),
        md_cell('Plot it.', task=True, grade=False, solution=False, grade_id='task1', points=4, locked=True),
    ]
    nbformat.write(new_notebook(cells=cells), tmp_path / 'nbg.ipynb')
    ex = read_exercise(tmp_path / 'nbg.ipynb')
    assert ex.kinds == [
        ('answer', 'f'),
        ('tests', 'test_f'),
        ('tests', 'test_f0'),
        ('manual', 'essay'),
        ('manual', 'code_by_hand'),
        ('task', 'task1'),
    ]
    qs = ex.questions
    assert [(q.id, q.points, q.manual, q.cell_type, q.answer_ids) for q in qs.values()] == [
        ('test_f', 1, False, 'code', ['f']),
        ('test_f0', 0, False, 'code', ['f']),
        ('essay', 2, True, 'markdown', ['essay']),
        ('code_by_hand', 1, True, 'code', ['code_by_hand']),
        ('task1', 4, True, 'markdown', []),
    ]
    assert {q.namespace for q in qs.values()} == {'real'} and ex.max_points == 8
    assert qs['essay'].visible == qs['essay'].hidden == ''


def test_nbgrader_tests_need_no_assert(tmp_path):
    "nbgrader's test cell passes when nothing escapes it: `try: ... else: raise AssertionError` is a test cell."
    src = 'orig = f\ndel f\ntry:\n    g(1)\nexcept NameError:\n    pass\nelse:\n    raise AssertionError("g does not use f")\nfinally:\n    f = orig'
    cells = [
        _nbg_cell('def f(x):\n    return x\ndef g(x):\n    return f(x)', solution=True, grade=False, grade_id='g'),
        _nbg_cell(src, grade=True, solution=False, grade_id='g_uses_f', points=1),
    ]
    nbformat.write(new_notebook(cells=cells), tmp_path / 'nbg.ipynb')
    assert read_exercise(tmp_path / 'nbg.ipynb').questions['g_uses_f'].visible == src


def test_every_problem_of_a_notebook_is_reported_at_once(tmp_path):
    p = _nb(
        tmp_path,
        '#| exercise: q1\n### BEGIN SOLUTION\nx = 1',
        '# test: q2\nassert x',
        '#| exercise: q3 pts=1\nx = 3',
        'y = 1\n### END SOLUTION',
    )
    with pytest.raises(ExerciseFormatError) as e:
        read_exercise(p)
    assert [(x.cell, x.line) for x in e.value.errors] == [(0, 2), (1, 1), (2, 1), (3, 2)]
    assert str(e.value).startswith('bad.ipynb: 4 problems:\n  - bad.ipynb, cell 0, line 2: ### BEGIN SOLUTION')
    # several notebooks: release lists the problems of all of them, and writes nothing
    q = _nb(tmp_path, '#| exercise: q1\nx = 1', name='other.ipynb')
    with pytest.raises(ExerciseFormatError) as e:
        release([p, q], tmp_path / 'rel')
    assert len(e.value.errors) == 5 and 'other.ipynb, cell 0' in str(e.value) and not (tmp_path / 'rel').exists()


def test_split_tests_statements_and_labels():
    assert split_tests is checks.split_tests  # one definition, re-exported by the format's module
    ts = split_tests(
        "x = 1\nassert x == 1, 'one'\nassert_close(x, 1)\nprint(x)\nfor i in range(2):\n    assert i < 2\n"
    )
    assert [t[0] for t in ts] == [False, True, True, False, True]
    assert [t[2] for t in ts] == [
        "x = 1",
        "assert x == 1, 'one'",
        'assert_close(x, 1)',
        'print(x)',
        'for i in range(2):',
    ]
    assert [t[3] for t in ts] == [1, 2, 3, 4, 5]
    assert split_tests('  \n') == []
    long = split_tests('assert ' + ' + '.join(['1'] * 60) + ' > 0')[0][2]
    assert len(long) == 90 and long.endswith('...')


def test_nbgrader_autotest_lines_become_nbgrader_s_asserts(tmp_path):
    "`### AUTOTEST` / `### HASHED AUTOTEST`: expanded at read time with nbgrader's default templates and salts."
    nb = new_notebook(
        cells=[
            _nbg_cell(
                '### BEGIN SOLUTION\nx = 5\nword = "Hi"\n### END SOLUTION', solution=True, grade=False, grade_id='a'
            ),
            _nbg_cell(
                '"""doc"""\n### AUTOTEST x; word\n### BEGIN HIDDEN TESTS\n### HASHED AUTOTEST x + 1\n### END HIDDEN TESTS',
                grade=True,
                solution=False,
                grade_id='t',
                points=1,
            ),
        ]
    )
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nbformat.write(nb, tmp_path / 'nbg.ipynb')
    q = read_exercise(tmp_path / 'nbg.ipynb').questions['t']
    assert q.visible.split('\n')[:4] == [
        '"""doc"""',
        'from hashlib import sha1',
        'assert str(type(x)) == """<class \'int\'>""", """type of x is not int. Please make sure it is int and not '
        'np.int64, etc. You can cast your value into an int using int()"""',
        'assert str(x) == """5""", """value of x is not correct"""',
    ]
    assert 'assert str(word.lower()) == """hi""", """value of word is not correct"""' in q.visible
    assert q.visible.rstrip().endswith("print('Success!')") and 'AUTOTEST' not in q.visible + q.hidden
    # hashed: nbgrader's salt (from the cell's source and index), the value not in clear
    import hashlib

    src = nb.cells[1].source
    salt = hex(int(hashlib.sha256((src + '1').encode()).hexdigest(), 16) % 10**6 + 1)[2:]
    value = hashlib.sha1(b'6' + salt.encode()).hexdigest()
    assert f'assert sha1(str(x + 1).encode("utf-8")+b"{salt}").hexdigest() == """{value}"""' in q.hidden
    assert len([t for t in split_tests(q.hidden) if t[0]]) == 2  # type and value, both hashed
