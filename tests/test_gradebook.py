"""Tests of course_lib.gradebook: finding submissions and their students, matching them to exercises, signed
resumable results, worker failures (fast, from result dicts and fake workers), and (slow) grading small classes
with parallel workers."""

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib import gradebook
from course_lib.autograde import _result_row
from course_lib.gradebook import (
    _complete,
    _match_bundle,
    _match_bundle_by_name,
    _plan_batch,
    _result_key,
    _safe,
    _secret,
    _sign,
    _student_id,
    find_submissions,
    grade,
    student_of,
)
from course_lib.release import load_bundles, release
from course_lib.sandbox import Limits
from test_autograde import DEMO_CELLS, LIGHT, write_demo_class, write_nb
from test_exercise import nbgrader_squares
from test_report import BUNDLE, _result  # the same result dicts the report tests use


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
    # the student: a file named by the student, or the first folder (nbgrader: submitted/<student>/<assignment>/)
    assert [student_of(s) for s in ('alice', 'bob/ex1', 'bitdiddle/ps1/problem1')] == ['alice', 'bob', 'bitdiddle']
    with pytest.raises(ValueError, match=r"same student id \['alice'\]"):
        find_submissions([tmp_path / 'subs' / 'alice.ipynb', tmp_path / 'subs'])
    with pytest.raises(FileNotFoundError, match='submission'):
        find_submissions([tmp_path / 'missing.ipynb'])


def test_incomplete_worker_results_are_completed_and_marked_as_failures(tmp_path):
    lim = Limits(notebook_timeout=60)
    (tmp_path / 'p.json').write_text(json.dumps(_result(questions=[_result_row(BUNDLE['questions'][1], 'passed', '')])))
    res = _complete(tmp_path / 'none.json', tmp_path / 'p.json', BUNDLE, lim, wall=3.0, returncode=-9)
    assert [(r['question'], r['status'], r['reason']) for r in res['questions']] == [
        ('q1', 'error', 'the grading worker stopped (exit code -9)'),
        ('q2', 'passed', ''),
    ]
    assert res['worker_failure'] == 'the grading worker stopped (exit code -9)'
    res = _complete(tmp_path / 'none.json', tmp_path / 'none.json', BUNDLE, lim, wall=61.0, returncode=-9)
    assert [r['status'] for r in res['questions']] == ['timeout', 'timeout']
    assert res['questions'][0]['reason'] == 'the notebook time limit (60 s) was reached' and res['worker_failure']
    (tmp_path / 'r.json').write_text(json.dumps({'questions': 'as the worker wrote them'}))
    assert _complete(tmp_path / 'r.json', tmp_path / 'p.json', BUNDLE, lim, 1.0, 0) == {
        'questions': 'as the worker wrote them'
    }
    # a result file from a worker that did not exit normally is not trusted
    assert _complete(tmp_path / 'r.json', tmp_path / 'p.json', BUNDLE, lim, 1.0, 1)['worker_failure']


def test_submissions_are_matched_to_their_exercise():
    bundles = {
        'ex1': {'name': 'ex1', 'questions': [{'id': 'a', 'answer_ids': ['a']}]},
        'ex10': {'name': 'ex10', 'questions': [{'id': 'b', 'answer_ids': ['b']}]},
    }
    meta = nbformat.from_dict({'cells': [], 'metadata': {'course_exercise': {'name': 'ex1'}}})
    assert _match_bundle(meta, 'ex10_alice.ipynb', bundles)[0]['name'] == 'ex1'  # the metadata wins
    blank = nbformat.from_dict({'cells': [new_code_cell('#| exercise: b\nx = 1')], 'metadata': {}})
    assert _match_bundle(blank, 'alice_ex10.ipynb', bundles)[0]['name'] == 'ex10'  # the longest name in the file name
    assert _match_bundle(blank, 'alice.ipynb', bundles)[0]['name'] == 'ex10'  # the answer ids it holds
    assert _match_bundle(blank, 'alice_ex1.ipynb', bundles)[0]['name'] == 'ex10'  # ids that contradict the name win
    assert _match_bundle_by_name('alice_ex1.ipynb', bundles)['name'] == 'ex1'
    assert _match_bundle_by_name('ex10.ipynb', bundles)['name'] == 'ex10'
    # no guess: with a single bundle, a notebook that is not its own is skipped, with the reason
    b, why = _match_bundle(blank, 'alice.ipynb', {'ex1': bundles['ex1']})
    assert b is None and why.startswith("matches no exercise: neither its metadata, its file name nor its answer ids")
    assert _match_bundle_by_name('alice.ipynb', bundles) is None
    other = nbformat.from_dict({'cells': [], 'metadata': {'course_exercise': {'name': 'ex2'}}})
    assert _match_bundle(other, 'ex1.ipynb', bundles) == (
        None,
        "its metadata names the exercise 'ex2', which has no grader bundle here",
    )
    # nbgrader notebooks: their grade ids
    nbg = new_code_cell('x = 1')
    nbg.metadata['nbgrader'] = {'solution': True, 'grade': False, 'grade_id': 'b'}
    assert _match_bundle(nbformat.from_dict({'cells': [nbg], 'metadata': {}}), 'x.ipynb', bundles)[0]['name'] == 'ex10'


@pytest.fixture
def demo_class(tmp_path):
    write_nb(tmp_path / 'demo.ipynb', DEMO_CELLS)
    release([tmp_path / 'demo.ipynb'], tmp_path / 'rel')
    subs = tmp_path / 'subs'
    subs.mkdir()
    shutil.copy(tmp_path / 'demo.ipynb', subs / 'ann.ipynb')
    (subs / 'bob.ipynb').write_text('not json')
    return tmp_path, load_bundles(tmp_path / 'rel'), subs


def test_stored_results_are_reused_while_their_key_and_signature_match(demo_class):
    tmp_path, bundles, subs_dir = demo_class
    subs = find_submissions([subs_dir])
    out = tmp_path / 'out'
    (out / 'results').mkdir(parents=True)
    results, todo, skipped = _plan_batch(subs, bundles, LIGHT, out, force=False)
    assert (
        results == {}
        and skipped == []
        and [(s, b['name']) for s, _, b, _ in todo] == [('ann', 'demo'), ('bob', 'demo')]
    )
    key = todo[0][3]
    assert key == _result_key(subs_dir / 'ann.ipynb', bundles['demo'], LIGHT)
    stored = {'key': key, 'student': 'ann'}
    stored['digest'] = _sign(stored, _secret(out))
    (out / 'results' / 'ann.json').write_text(json.dumps(stored))
    (out / 'results' / 'bob.json').write_text('{')  # a half-written result: graded again
    results, todo, _ = _plan_batch(subs, bundles, LIGHT, out, force=False)
    assert results == {'ann': stored} and [t[0] for t in todo] == ['bob']
    assert [t[0] for t in _plan_batch(subs, bundles, LIGHT, out, force=True)[1]] == ['ann', 'bob']
    # other limits, an edited submission or another bundle: a different key, so graded again
    assert _result_key(subs_dir / 'ann.ipynb', bundles['demo'], Limits(cell_timeout=5)) != key
    (subs_dir / 'ann.ipynb').write_text((subs_dir / 'ann.ipynb').read_text() + '\n')
    assert _result_key(subs_dir / 'ann.ipynb', bundles['demo'], LIGHT) != key


def test_forged_or_unsigned_results_are_graded_again(demo_class):
    tmp_path, bundles, subs_dir = demo_class
    subs = find_submissions([subs_dir / 'ann.ipynb'])
    out = tmp_path / 'out'
    (out / 'results').mkdir(parents=True)
    key = _result_key(subs_dir / 'ann.ipynb', bundles['demo'], LIGHT)
    real = {'key': key, 'student': 'ann', 'questions': [{'question': 'q1', 'points': 0}]}
    real['digest'] = _sign(real, _secret(out))
    for forged in (
        dict(real, questions=[{'question': 'q1', 'points': 2}]),  # edited after signing
        {k: v for k, v in real.items() if k != 'digest'},  # unsigned (e.g. a worker failure)
        dict(real, digest=_sign(real, b'a key the student guessed')),
    ):
        (out / 'results' / 'ann.json').write_text(json.dumps(forged))
        assert [t[0] for t in _plan_batch(subs, bundles, LIGHT, out, force=False)[1]] == ['ann']
    key_file = out / '.private' / 'grader.key'
    assert oct(key_file.stat().st_mode & 0o777) == '0o600' and oct(key_file.parent.stat().st_mode & 0o777) == '0o700'
    assert _secret(out) == key_file.read_bytes() and len(key_file.read_bytes()) == 64  # made once, kept


def test_notebooks_matching_no_exercise_are_skipped(demo_class):
    tmp_path, bundles, subs_dir = demo_class
    nbformat.write(new_notebook(cells=[new_code_cell('#| exercise: other\nx = 1')]), subs_dir / 'cy.ipynb')
    (subs_dir / 'dee').mkdir()
    shutil.copy(subs_dir / 'ann.ipynb', subs_dir / 'dee' / 'demo.ipynb')
    shutil.copy(subs_dir / 'ann.ipynb', subs_dir / 'dee' / 'demo-Copy1.ipynb')  # two notebooks for one exercise
    (subs_dir / 'eve').mkdir()
    shutil.copy(subs_dir / 'ann.ipynb', subs_dir / 'eve' / 'a.ipynb')
    shutil.copy(subs_dir / 'ann.ipynb', subs_dir / 'eve' / 'b.ipynb')
    out = tmp_path / 'out'
    _, todo, skipped = _plan_batch(find_submissions([subs_dir]), bundles, LIGHT, out, force=False)
    assert [t[0] for t in todo] == ['ann', 'bob', 'dee/demo']
    why = {sid: w for sid, _, w in skipped}
    assert why['cy'].startswith('matches no exercise')
    assert why['dee/demo-Copy1'] == 'dee has several notebooks for demo (dee/demo, dee/demo-Copy1)'
    assert why['eve/a'] == why['eve/b'] == 'eve has several notebooks for demo (eve/a, eve/b): keep one'


def _fake_worker(code):
    "A `_start_worker` whose worker runs `code` (reading the job from stdin) instead of grading."

    def start(log):
        return subprocess.Popen(
            [sys.executable, '-c', code],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,
            start_new_session=True,
        )

    return start


def test_worker_failures_are_reported_never_cached(demo_class, monkeypatch):
    tmp_path, bundles, subs_dir = demo_class
    (subs_dir / 'bob.ipynb').unlink()
    monkeypatch.setattr(gradebook, '_start_worker', _fake_worker('import sys; sys.stdin.read(); sys.exit(3)'))
    gb = grade(subs_dir, tmp_path / 'rel', tmp_path / 'out', jobs=1, limits=LIGHT, progress=False, quiet=True)
    assert gb.attrs['failed'] == [('ann', 'the grading worker stopped (exit code 3)')]
    assert set(gb.status) == {'error'}
    stored = json.loads((tmp_path / 'out' / 'results' / 'ann.json').read_text())
    assert stored['worker_failure'] and 'digest' not in stored
    # the next run grades it again (here: a worker that writes a result and exits normally)
    ok = (
        "import json, sys; job = json.loads(sys.stdin.read()); q = job['bundle']['questions']\n"
        "rows = [dict(question=x['id'], points=x['points'], max_points=x['points'], status='passed', reason='ok', tests=[]) for x in q]\n"
        "open(job['result'], 'w').write(json.dumps(dict(assignment=job['bundle']['name'], questions=rows, notes=[], fatal='')))"
    )
    monkeypatch.setattr(gradebook, '_start_worker', _fake_worker(ok))
    gb = grade(subs_dir, tmp_path / 'rel', tmp_path / 'out', jobs=1, limits=LIGHT, progress=False, quiet=True)
    assert gb.attrs['failed'] == [] and set(gb.status) == {'passed'}
    assert 'digest' in json.loads((tmp_path / 'out' / 'results' / 'ann.json').read_text())


def test_the_job_reaches_the_worker_on_stdin_with_absolute_paths(demo_class, monkeypatch):
    tmp_path, bundles, subs_dir = demo_class
    spy = (
        "import json, os, sys; job = json.loads(sys.stdin.read())\n"
        "json.dump(dict(job=job, argv=sys.argv, cwd=os.getcwd()), open(job['result'] + '.seen', 'w'))\n"
        "sys.exit(1)"
    )
    real_start = gradebook._start_worker
    monkeypatch.setattr(gradebook, '_start_worker', _fake_worker(spy))
    monkeypatch.chdir(tmp_path)
    grade('subs', 'rel', 'out', jobs=1, limits=LIGHT, progress=False, quiet=True)  # relative paths
    seen = json.loads((tmp_path / 'out' / 'results' / 'ann.json.seen').read_text())
    job = seen['job']
    for k in ('path', 'result', 'partial'):
        assert os.path.isabs(job[k]), (k, job[k])
    assert job['path'] == str(subs_dir / 'ann.ipynb') and job['bundle']['name'] == 'demo'
    # the real launcher names no file on the command line: the bundle (hidden tests) is not in any argv
    proc = real_start(subprocess.DEVNULL)
    try:
        assert proc.args[-1] == '/dev/stdin' and 'hidden' not in ' '.join(proc.args)
    finally:
        proc.kill()
        proc.wait()


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
    with pytest.raises(ValueError, match='cannot read the grades file'):
        grade(tmp_path, tmp_path / 'rel', tmp_path / 'out', progress=False, quiet=True, manual=tmp_path / 'x.csv')


# ---------------------------------------------------------------------------------------------- slow: real batches
@pytest.fixture(scope='module')
def batch(tmp_path_factory):
    d = tmp_path_factory.mktemp('batch')
    subs = write_demo_class(d)
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
    nbgrader_squares(tmp_path / 'nbg.ipynb')
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


# ------------------------------------------------- nbgrader input: exercise files, test order, untouched answers
def _nbg(c, **md):
    c.metadata['nbgrader'] = dict(schema_version=3, locked=False, **md)
    return c


ORDERED_TESTS = (
    "assert tick() == 1\n### BEGIN HIDDEN TESTS\nassert tick() == 2\n### END HIDDEN TESTS\nassert tick() == 3"
)
ESSAY_STUB = 'YOUR ANSWER HERE'


def _isolations():
    from course_lib.isolation import bwrap_path

    bw = bwrap_path() is not None or bool(os.environ.get('COURSE_REQUIRE_BWRAP'))
    return ['none', pytest.param('bwrap', marks=pytest.mark.skipif(not bw, reason='bubblewrap is not installed'))]


@pytest.fixture(scope='module', params=_isolations())
def nbg_class(request, tmp_path_factory):
    "An nbgrader assignment that reads data.csv, interleaves hidden tests, has a hand-graded essay; graded once."
    from nbformat.v4 import new_markdown_cell

    d = tmp_path_factory.mktemp(f'nbg_{request.param}')
    (d / 'src').mkdir()
    (d / 'src' / 'data.csv').write_text('a,b\n1,10\n3,30\n')
    nb = new_notebook(
        cells=[
            new_markdown_cell('The file `data.csv` holds two columns.'),
            _nbg(
                new_code_cell(
                    "import csv\n\ndef mean_a():\n    ### BEGIN SOLUTION\n"
                    "    rows = list(csv.DictReader(open('data.csv')))\n"
                    "    return sum(float(r['a']) for r in rows) / len(rows)\n    ### END SOLUTION"
                ),
                grade=False,
                solution=True,
                grade_id='mean',
            ),
            _nbg(new_code_cell('assert mean_a() == 2.0'), grade=True, solution=False, grade_id='test_mean', points=2),
            _nbg(
                new_code_cell(
                    "n = 0\n\ndef tick():\n    global n\n    ### BEGIN SOLUTION\n    n += 1\n    ### END SOLUTION\n"
                    "    return n"
                ),
                grade=False,
                solution=True,
                grade_id='tick',
            ),
            _nbg(new_code_cell(ORDERED_TESTS), grade=True, solution=False, grade_id='test_tick', points=1),
            _nbg(new_markdown_cell('An essay.'), grade=True, solution=True, grade_id='essay', points=3),
        ]
    )
    nbformat.write(nb, d / 'src' / 'hw.ipynb')
    release([d / 'src' / 'hw.ipynb'], d / 'rel')
    subs = d / 'subs'
    for who in ('teacher', 'untouched', 'writer'):
        (subs / who).mkdir(parents=True)
    shutil.copy(d / 'src' / 'hw.ipynb', subs / 'teacher' / 'hw.ipynb')
    stu = nbformat.read(d / 'rel' / 'student' / 'hw.ipynb', as_version=4)
    nbformat.write(stu, subs / 'untouched' / 'hw.ipynb')
    assert stu.cells[5].source == ESSAY_STUB
    stu.cells[5].source = 'My own essay.'
    nbformat.write(stu, subs / 'writer' / 'hw.ipynb')
    (subs / 'stranger').mkdir()
    nbformat.write(new_notebook(cells=[new_code_cell('#| exercise: other\nx = 1')]), subs / 'stranger' / 'lab.ipynb')
    limits = dataclasses.replace(LIGHT, isolation=request.param)
    gb = grade(subs, d / 'rel', d / 'out', jobs=2, limits=limits, progress=False, quiet=True)
    return dict(dir=d, gb=gb.set_index(['student', 'question']), out=d / 'out', skipped=gb.attrs['skipped'])


@pytest.mark.slow
def test_exercise_files_reach_the_grading_kernel(nbg_class):
    "data.csv beside the exercise: listed in the bundle (name + sha256), released, and in the kernel's work folder."
    d = nbg_class['dir']
    b = json.loads((d / 'rel' / 'grader' / 'hw.json').read_text())
    assert b['assets'] == {'data.csv': hashlib.sha256(b'a,b\n1,10\n3,30\n').hexdigest()}
    assert (d / 'rel' / 'grader' / 'files' / 'data.csv').read_bytes() == (d / 'src' / 'data.csv').read_bytes()
    assert (d / 'rel' / 'student' / 'data.csv').is_file()
    row = nbg_class['gb'].loc[('teacher', 'test_mean')]
    assert (row.status, row.points) == ('passed', 2), row.reason


def test_a_changed_exercise_file_is_a_grader_failure(tmp_path):
    "A file the bundle lists that is missing or changed since the release: the grader's failure, not a student's 0."
    from course_lib.autograde import grade_submission

    bundle = dict(
        name='hw',
        questions=[dict(id='q', points=1, answer_ids=['q'], visible='assert 1', hidden='', n_visible=1, n_hidden=0)],
        locked={'tests': {}, 'setup': []},
        assets={'data.csv': hashlib.sha256(b'1,2\n').hexdigest()},
        assets_dir=str(tmp_path),
    )
    write_nb(tmp_path / 'sub.ipynb', ['x = 1'])
    for content in (None, b'9,9\n'):
        if content is not None:
            (tmp_path / 'data.csv').write_bytes(content)
        res = grade_submission(tmp_path / 'sub.ipynb', bundle, LIGHT)
        assert res['worker_error'] == res['fatal'] and res['questions'][0]['points'] == 0, res
        assert ('changed since the release' if content else 'is not in') in res['worker_error']


@pytest.mark.slow
def test_hidden_tests_run_where_they_stand_in_the_cell(nbg_class):
    "nbgrader runs a test cell's lines in order, hidden block included: tick() == 1, then 2 (hidden), then 3."
    b = json.loads((nbg_class['dir'] / 'rel' / 'grader' / 'hw.json').read_text())
    q = next(q for q in b['questions'] if q['id'] == 'test_tick')
    assert [k for k, _ in q['parts']] == ['visible', 'hidden', 'visible']
    row = nbg_class['gb'].loc[('teacher', 'test_tick')]
    assert (row.status, row.points) == ('passed', 1), row.reason  # visible-then-hidden fails: tick() is 2, not 3


@pytest.mark.slow
def test_an_untouched_manual_answer_gets_zero_not_a_todo(nbg_class):
    "The essay still equal to the released stub: 0, 'unanswered'; a written one (or the teacher's) awaits a human."
    gb = nbg_class['gb']
    untouched = gb.loc[('untouched', 'essay')]
    assert (untouched.status, untouched.points, untouched.reason) == (
        'manual',
        0,
        'unanswered (still the released stub)',
    )
    for who in ('writer', 'teacher'):
        assert gb.loc[(who, 'essay')].reason == 'awaiting a human grade', who
    todo = (nbg_class['out'] / 'manual_todo.csv').read_text()
    assert 'writer,hw,essay' in todo and 'teacher,hw,essay' in todo and 'untouched' not in todo
    totals = {r['student']: r for r in csv.DictReader(open(nbg_class['out'] / 'totals.csv'))}
    assert totals['untouched']['awaiting_manual'] == '0' and totals['writer']['awaiting_manual'] == '1'


@pytest.mark.slow
def test_skipped_notebooks_are_returned_and_listed(nbg_class):
    "A notebook matching no exercise: not graded, in skipped.csv and in the gradebook's attrs['skipped'] (for the CLI)."
    [(sid, path, why)] = nbg_class['skipped']
    assert sid == 'stranger/lab' and path.endswith('lab.ipynb') and why.startswith('matches no exercise')
    assert 'stranger' not in set(nbg_class['gb'].index.get_level_values('student'))
    assert 'stranger/lab' in (nbg_class['out'] / 'skipped.csv').read_text()
