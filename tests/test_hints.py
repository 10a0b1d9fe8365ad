"""Graduated hints and instructor-only material, on small constructed exercises: the release refuses a hint that
gives the solution away and a wrong answer for an unknown question, leaves the instructor's material out, and
`hint()` in the student's kernel walks the levels; `verify_exercise` tells a test that rejects a wrong answer
from one that lets it pass."""

import contextlib
import io

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

from course_lib import hints
from course_lib.exercise import ExerciseFormatError
from course_lib.instructor_only import verify_exercise
from course_lib.release import release

ANSWER = (
    '#| exercise: q1 points=2 hint="Two sides of a right triangle: which theorem?"\n'
    '#| hint: Square each side, add, and undo the squaring.\n'
    '#| hint: The math module has a function for exactly this length.\n'
    'def hyp(a, b):\n    ### BEGIN SOLUTION\n    return math.hypot(a, b)\n    ### END SOLUTION\n'
)
TESTS = '# tests: q1\nassert hyp(3, 4) == 5\n### BEGIN HIDDEN TESTS\nassert abs(hyp(1, 1) - 2**0.5) < 1e-12\n### END HIDDEN TESTS'


def write(tmp_path, *extra, answer=ANSWER, name='demo'):
    nb = new_notebook(cells=[new_markdown_cell('# Demo'), new_code_cell('import math'), new_code_cell(answer)])
    nb.cells += [new_code_cell(TESTS), *extra]
    p = tmp_path / f'{name}.ipynb'
    nbformat.write(nb, p)
    return p


def test_release_refuses_a_hint_that_gives_the_solution_away(tmp_path):
    leaky = ANSWER.replace('#| hint: The math module', '#| hint: return math.hypot(a, b) -- the math module')
    with pytest.raises(ExerciseFormatError, match=r"hint 3 of 'q1' gives the solution away"):
        release([write(tmp_path, answer=leaky)], tmp_path / 'rel')
    assert not (tmp_path / 'rel').exists(), 'nothing written'
    spaced = ANSWER.replace('which theorem?', 'try   math . hypot ( a ,b )')
    with pytest.raises(ExerciseFormatError, match="hint 1 of 'q1'"):
        release([write(tmp_path, answer=spaced)], tmp_path / 'rel')


def test_release_refuses_a_wrong_answer_for_an_unknown_question(tmp_path):
    p = write(tmp_path, new_raw_cell('# wrong: q7 -- no such question\nreturn 0'))
    with pytest.raises(ExerciseFormatError, match="wrong answer for 'q7'"):
        release([p], tmp_path / 'rel')


def test_student_release_keeps_the_nudge_and_registers_the_other_levels(tmp_path):
    key = new_markdown_cell('<!-- instructor only -->\n## Answer key: the questionnaire\n1. Pythagoras, squared.')
    p = write(tmp_path, new_raw_cell('# wrong: q1 -- forgets the root\nreturn a * a + b * b'), key)
    release([p], tmp_path / 'rel')
    nb = nbformat.read(tmp_path / 'rel' / 'student' / 'demo.ipynb', as_version=4)
    text = nbformat.writes(nb)
    assert 'a * a + b * b' not in text and 'Pythagoras, squared' not in text and 'instructor only' not in text
    assert 'Square each side' not in text and '#| hint' not in text
    answer = next(c.source for c in nb.cells if c.source.startswith('#| exercise: q1'))
    assert "Stuck? hint('q1') gives a more specific hint (2 more)" in answer
    assert "NotImplementedError('q1: Two sides of a right triangle: which theorem?')" in answer
    ns, out = {}, io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(nb.cells[0].source, ns)  # the cell the release put first
        ns['hint']('q1')
        ns['hint']('q1')
        ns['hint']('q1')
        ns['hint']('q1', 1)
        ns['hint']('q2')
    lines = out.getvalue()
    assert 'q1, hint 2 of 3: Square each side' in lines and '(1 more' in lines
    assert lines.count('q1, hint 3 of 3: The math module') == 2 and 'last hint' in lines
    assert 'q1, hint 1 of 3: Two sides' in lines
    assert "no hints known for 'q2'; known: q1" in lines


def test_hint_without_registration_says_what_to_run(monkeypatch):
    monkeypatch.setattr(hints, '_HINTS', {})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        hints.hint('q1')
    assert 'run the first cell of the notebook' in out.getvalue()


def test_verify_exercise_tells_a_rejected_wrong_answer_from_one_that_passes(tmp_path):
    p = write(
        tmp_path,
        new_raw_cell('# wrong: q1 -- forgets the root\nreturn a * a + b * b'),
        new_raw_cell('# wrong: q1 -- a correct variant listed by mistake\nreturn (a * a + b * b) ** 0.5'),
        new_raw_cell('# wrong: q1 -- a typo, not an answer\nreturn a +* b'),
    )
    rep = verify_exercise(p)
    assert rep.answer.tolist()[0] == 'reference' and rep.status.tolist() == ['passed', 'failed', 'passed', 'broken']
    assert rep.ok.tolist() == [True, True, False, False]
    assert 'assert hyp(3, 4) == 5' in rep.message[1]


def test_leak_check_ignores_prose_and_layout():
    sol = 'top2 = probs.topk(2, dim=1).values\nreturn top2[:, 1] - top2[:, 0]\n'
    assert hints.hint_leaks('Only two numbers per row matter; a confident row must score low.', sol) == []
    assert hints.hint_leaks('top2[ :,1 ]-top2[:,0]', sol)
    assert hints.hint_leaks('use a == b', 'x = 1') == ["code '=='"]


def test_course_verify_exits_1_when_a_wrong_answer_passes(tmp_path, capsys):
    from course_lib.cli import main

    good = write(tmp_path, new_raw_cell('# wrong: q1 -- forgets the root\nreturn a * a + b * b'), name='good')
    assert main(['verify', str(good)]) == 0
    assert 'every reference passes and every wrong answer fails' in capsys.readouterr().out
    bad = write(tmp_path, new_raw_cell('# wrong: q1 -- a correct variant\nreturn (a * a + b * b) ** 0.5'), name='bad')
    assert main(['verify', str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert 'wrong: a correct variant passed False' in ' '.join(out.split()) and '1 rows not as they must be' in out
