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


def test_nbgrader_notebook_is_read(tmp_path):
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
    nbformat.write(nb, tmp_path / 'nbg.ipynb')
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
        ([_nbg_cell('x = 1', grade=True, solution=True, grade_id='a')], 'both solution and grade'),
        (
            [
                _nbg_cell('### BEGIN SOLUTION\nx = 1\n### END SOLUTION', solution=True, grade=False, grade_id='a'),
                _nbg_cell('assert x', grade=True, solution=False, grade_id='t', points=0),
            ],
            "nbgrader test cell 't' has no points",
        ),
    ],
)
def test_nbgrader_errors(tmp_path, cells, expected):
    nbformat.write(new_notebook(cells=cells), tmp_path / 'nbg.ipynb')
    with pytest.raises(ExerciseFormatError, match='nbg.ipynb') as e:
        read_exercise(tmp_path / 'nbg.ipynb')
    assert expected in str(e.value), str(e.value)


def test_nbgrader_markdown_answers_are_refused(tmp_path):
    c = new_markdown_cell('Explain.')
    c.metadata['nbgrader'] = dict(solution=True, grade=True, grade_id='essay', points=2)
    nbformat.write(new_notebook(cells=[c]), tmp_path / 'nbg.ipynb')
    with pytest.raises(ExerciseFormatError, match='manually graded'):
        read_exercise(tmp_path / 'nbg.ipynb')


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
