"""Tests of course_lib.report: feedback pages, the gradebook and totals, hand grades merged from a CSV, the summary
(all from result dicts; nothing here starts a process)."""

import pytest

from course_lib.autograde import _result_row
from course_lib.report import (
    AWAITING,
    _feedback_md,
    _gradebook,
    apply_manual,
    manual_todo,
    read_manual,
    student_page,
    summary,
    totals,
    write_outputs,
)

BUNDLE = {'name': 'demo', 'questions': [{'id': 'q1', 'points': 2}, {'id': 'q2', 'points': 1}]}
TESTS = [
    dict(kind='visible', label='assert triple(2) == 6', status='passed', message='', etype=''),
    dict(kind='visible', label='assert triple(3) == 9', status='failed', message='got 3, expected 9', etype='X'),
    dict(kind='hidden', label='assert triple(-1) == -3', status='failed', message='got -1', etype='AssertionError'),
    dict(kind='hidden', label='assert triple(0) == 0', status='passed', message='', etype=''),
]
ESSAY = {'id': 'essay', 'points': 3}


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


def _essay(student):
    return dict(
        student=student, assignment='essays', notes=[], fatal='', questions=[_result_row(ESSAY, 'manual', AWAITING)]
    )


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
    for status, icon in (('error', '⚠️'), ('timeout', '⏱️'), ('missing', '❔'), ('manual', '✍️')):
        res = _result(questions=[_result_row(BUNDLE['questions'][0], status, 'why')])
        assert f'## q1: {icon} {status} — 0 / 2' in _feedback_md(res, BUNDLE)


def test_one_page_per_student_over_their_notebooks():
    assert student_page([_result()]) == _feedback_md(_result())
    page = student_page([_essay('alice'), _result()])
    assert page.startswith('# Feedback: alice\n\n**Total: 1 / 6** over 2 notebooks')
    assert page.index('# Feedback: alice — demo') < page.index('# Feedback: alice — essays')  # by exercise name


def test_gradebook_table_and_summary(tmp_path):
    gb = _gradebook([_result('bob'), _result('alice')], {'demo': BUNDLE})
    assert list(gb.columns) == ['student', 'assignment', 'question', 'points', 'max_points', 'status', 'reason']
    assert list(gb.student) == ['alice', 'alice', 'bob', 'bob'] and list(gb.points) == [0, 1, 0, 1]
    assert gb.to_csv(index=False).splitlines()[1] == 'alice,demo,q1,0,2,failed,visible test failed'
    s = summary(gb, wall=2.5, n_graded=1, n_reused=1, out=tmp_path)
    assert 'Grades (points / max):' in s and 'Question outcomes: failed 2, passed 2' in s
    assert 'Mean score: 33.3% of the points' in s and '1 graded, 1 reused from an earlier run, in 2.5 s' in s
    assert f"Wrote {tmp_path / 'gradebook.csv'} and {tmp_path / 'feedback'}/" in s
    assert _gradebook([], {}).empty and totals(_gradebook([], {})).empty


def test_totals_across_an_assignments_notebooks():
    gb = _gradebook([_result('alice'), _essay('alice'), _result('bob')])
    t = totals(gb).set_index('student')
    assert list(t.columns) == ['demo', 'essays', 'points', 'max_points', 'awaiting_manual']
    # bob handed in no essay: 0 for it, and still out of every exercise's points
    assert t.loc['bob'].to_dict() == dict(demo=1, essays=0, points=1, max_points=6, awaiting_manual=0)
    assert t.loc['alice'].to_dict() == dict(demo=1, essays=0, points=1, max_points=6, awaiting_manual=1)
    flat = ' '.join(summary(gb).split())
    assert 'alice 1 / 3 0 / 3 1 / 6' in flat and 'bob 1 / 3 — 1 / 6' in flat
    assert '1 answer(s) await a human grade' in flat


def test_hand_grades_are_merged(tmp_path):
    results = [_result('alice'), _essay('alice'), _essay('bob')]
    todo = manual_todo(_gradebook(results))
    assert todo.splitlines() == [
        'student,assignment,question,points,max_points,comment',
        'alice,essays,essay,,3,',
        'bob,essays,essay,,3,',
    ]
    (tmp_path / 'g.csv').write_text(todo.replace('alice,essays,essay,,3,', 'alice,essays,essay,2.5,3,"clear, short"'))
    merged = apply_manual(results, read_manual(tmp_path / 'g.csv'))
    assert merged[1]['questions'][0]['points'] == 2.5 and merged[2]['questions'][0]['points'] == 0  # bob: empty
    assert merged[1]['questions'][0]['reason'] == 'graded by hand: clear, short'
    assert results[1]['questions'][0]['points'] == 0  # the results themselves are not changed
    t = totals(_gradebook(merged)).set_index('student')
    assert t.loc['alice', 'points'] == 3.5 and t.loc['alice', 'awaiting_manual'] == 0
    assert t.loc['bob', 'awaiting_manual'] == 1
    # the minimal file: student, question, points
    (tmp_path / 'min.csv').write_text('student,question,points\nbob,essay,3\n')
    assert apply_manual(results, read_manual(tmp_path / 'min.csv'))[2]['questions'][0]['points'] == 3


def test_bad_hand_grades_are_all_reported(tmp_path):
    results = [_result('alice'), _essay('alice'), dict(_essay('bob'), assignment='essays2')]
    rows = 'alice,essay,9\ncarol,essay,1\nalice,q1,2\nalice,essay,x\nalice,essay,1\nalice,essay,2\n'
    (tmp_path / 'bad.csv').write_text('student,question,points\n' + rows)
    with pytest.raises(ValueError) as e:
        apply_manual(results, read_manual(tmp_path / 'bad.csv'), 'bad.csv')
    msg = str(e.value)
    assert msg.startswith('bad.csv: 5 problem(s) with the hand grades:')
    for expected in (
        'line 2: points 9 outside 0 … 3 for essays/essay',
        "line 3: no question 'essay' for student 'carol'",
        "line 4: demo/q1 of 'alice' is graded automatically (failed), not by hand",
        "line 5: points 'x' is not a number",
        'line 7: graded twice in the file',
    ):
        assert expected in msg, msg
    (tmp_path / 'cols.csv').write_text('name,question,score\n')
    with pytest.raises(
        ValueError, match=r"needs the columns student, question, points \(missing \['points', 'student'\]\)"
    ):
        read_manual(tmp_path / 'cols.csv')
    with pytest.raises(ValueError, match='cannot read the grades file'):
        read_manual(tmp_path / 'nope.csv')
    # a question id two exercises share needs the assignment column
    shared = [_essay('alice'), dict(_essay('alice'), assignment='essays2')]
    (tmp_path / 'amb.csv').write_text('student,question,points\nalice,essay,1\n')
    with pytest.raises(ValueError, match='add an assignment column'):
        apply_manual(shared, read_manual(tmp_path / 'amb.csv'))
    (tmp_path / 'amb.csv').write_text('student,assignment,question,points\nalice,essays2,essay,1\n')
    merged = apply_manual(shared, read_manual(tmp_path / 'amb.csv'))
    assert [r['questions'][0]['points'] for r in merged] == [0, 1]


def test_write_outputs(tmp_path):
    (tmp_path / 'feedback').mkdir()
    (tmp_path / 'skipped.csv').write_text('stale')
    gb = write_outputs([_result('alice'), _essay('alice'), _result('bob')], tmp_path, lambda s: s)
    assert sorted(p.name for p in (tmp_path / 'feedback').iterdir()) == ['alice.md', 'bob.md']
    assert (tmp_path / 'gradebook.csv').read_text().splitlines()[0] == ','.join(gb.columns)
    assert (tmp_path / 'totals.csv').read_text().splitlines()[
        0
    ] == 'student,demo,essays,points,max_points,awaiting_manual'
    assert (tmp_path / 'manual_todo.csv').exists() and not (tmp_path / 'skipped.csv').exists()
    write_outputs(
        [_result('bob')], tmp_path, lambda s: s, skipped=[('carl/x', tmp_path / 'x.ipynb', 'matches no exercise')]
    )
    assert not (tmp_path / 'manual_todo.csv').exists()
    assert (tmp_path / 'skipped.csv').read_text().splitlines()[
        1
    ] == f"carl/x,{tmp_path / 'x.ipynb'},matches no exercise"
