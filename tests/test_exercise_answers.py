"""Every exercise of the course meets the exercises' bar (issue 9), checked on the instructor's notebook itself.

- the instructor's solution passes every test of every question, and each known-wrong answer (a `# wrong:` raw
  cell beside its question) fails its question's tests (`verify_exercise`: the notebook runs once, in order, at
  tiny scale on the real photographs; each wrong answer reruns from the namespace before its answer cell);
- every question has graduated hints (a nudge and at least one more level) and no hint gives the solution away;
- at least half of each notebook's questions assess understanding (its heading says so) and all are auto-graded;
- the release drops the instructor's material: wrong answers, answer keys, hint levels beyond the nudge.
"""

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.exercise import read_exercise
from course_lib.hints import check_hints, exercise_hints
from course_lib.instructor_only import is_instructor_only, known_wrong, verify_exercise
from course_lib.release import release

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted((REPO / 'nbs' / 'exercises').glob('[0-9][0-9]_*.ipynb'))
NAMES = [p.stem for p in EXERCISES]
HEADING = re.compile(r'^##\s+(q\d+)\s*:.*\((understanding|mechanics)\)\s*$', re.M)


def test_every_lesson_has_its_exercise():
    lessons = sorted(p.stem for p in (REPO / 'nbs' / 'lessons').glob('[0-9][0-9]_*.ipynb'))
    assert NAMES == lessons and len(NAMES) >= 4


def kinds_of(ex):
    "{question id: 'understanding' | 'mechanics'} from the questions' markdown headings."
    found = {}
    for c in ex.nb.cells:
        if c.cell_type == 'markdown':
            found.update(HEADING.findall(c.source))
    return found


@pytest.mark.parametrize('path', EXERCISES, ids=NAMES)
def test_questions_are_mostly_about_understanding_and_all_auto_graded(path):
    ex = read_exercise(path)
    kinds = kinds_of(ex)
    assert len(ex.questions) >= 6, f'{path.name}: {len(ex.questions)} questions, at least 6 wanted'
    assert not [q.id for q in ex.questions.values() if q.manual], 'every question is auto-graded'
    assert set(kinds) == set(ex.questions), f'headings "## qN: … (understanding|mechanics)" for {sorted(ex.questions)}'
    n_under = sum(k == 'understanding' for k in kinds.values())
    assert 2 * n_under >= len(kinds), f'{path.name}: {n_under} of {len(kinds)} questions assess understanding'
    assert all(q.hidden.strip() and q.visible.strip() for q in ex.questions.values())


@pytest.mark.parametrize('path', EXERCISES, ids=NAMES)
def test_hints_are_graduated_and_never_give_the_solution(path):
    ex = read_exercise(path)
    levels = exercise_hints(ex)
    assert set(levels) == set(ex.questions)
    few = {q: len(v) for q, v in levels.items() if len(v) < 2}
    assert not few, f'a nudge and at least one more hint per question; too few: {few}'
    assert not check_hints(ex), [str(e) for e in check_hints(ex)]
    for q, v in levels.items():
        assert len(set(v)) == len(v) and all(len(h) > 20 for h in v), (q, v)


@pytest.mark.parametrize('path', EXERCISES, ids=NAMES)
def test_instructor_material_is_there(path):
    ex = read_exercise(path)
    wrong = known_wrong(ex)
    missing = sorted(set(ex.questions) - {w.qid for w in wrong})
    assert not missing, f'questions without a known-wrong answer: {missing}'
    keys = [c.source for c in ex.nb.cells if c.cell_type == 'markdown' and is_instructor_only(c)]
    assert any('questionnaire' in k.lower() for k in keys), 'an answer key for the lesson\'s questionnaire'


def test_the_release_leaves_the_instructor_material_out(tmp_path):
    release(EXERCISES, tmp_path)
    for path in EXERCISES:
        ex = read_exercise(path)
        student = nbformat.read(tmp_path / 'student' / path.name, as_version=4)
        text = '\n'.join(c.source for c in student.cells)
        assert not any(is_instructor_only(c) for c in student.cells)
        assert '#| hint:' not in text and '### BEGIN SOLUTION' not in text
        for w in known_wrong(ex):  # no wrong answer's distinctive line reaches the student
            for line in w.code.splitlines():
                if len(line.strip()) > 30 and line.strip() not in _src_all(ex, skip_raw=True):
                    assert line.strip() not in text, (path.name, w.qid, line)
        for c in ex.nb.cells:
            if is_instructor_only(c) and c.cell_type == 'markdown':
                body = [ln for ln in c.source.splitlines()[1:] if len(ln.strip()) > 30]
                assert not any(ln in text for ln in body), path.name
        for q, levels in exercise_hints(ex).items():  # the nudge in the stub; the other levels only through hint()
            assert f'NotImplementedError({(q + ": " + levels[0])!r})' in text, (path.name, q)
            assert all(h not in text for h in levels[1:]), (path.name, q)
        assert student.cells[0].source.lstrip().startswith('# Run this cell first')


def _src_all(ex, skip_raw):
    return '\n'.join(c.source for c in ex.nb.cells if not (skip_raw and c.cell_type == 'raw'))


@pytest.mark.slow
@pytest.mark.parametrize('path', EXERCISES, ids=NAMES)
def test_reference_passes_and_every_wrong_answer_fails(path, mirror, monkeypatch):
    monkeypatch.setenv('COURSE_SCALE', 'tiny')
    monkeypatch.setenv('COURSE_DATA_MIRROR', str(mirror))
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    report = verify_exercise(path)
    ref = report[report.answer == 'reference']
    ex = read_exercise(path)
    assert ref.question.tolist() == list(ex.questions), 'every question is tested once, in order'
    bad = report[~report.ok]
    assert bad.empty, '\n' + bad.to_string()
    wrong = report[report.answer != 'reference']
    assert (wrong.status != 'broken').all() and len(wrong) >= len(ex.questions)
