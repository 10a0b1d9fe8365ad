"""Tests of the `course` command (course_lib.cli.main)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_notebook, new_code_cell

from course_lib import gradebook
from course_lib.cli import main, lesson_notebooks, repo_root

REPO = Path(__file__).resolve().parents[1]


def _nb(path, *cells):
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    return path


@pytest.mark.slow
def test_run_writes_executed_notebook(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv('COURSE_SCALE', raising=False)
    nb = _nb(
        tmp_path / 'tiny.ipynb',
        "import os, pathlib\nprint('scale', os.environ['COURSE_SCALE'])\nprint('cwd', pathlib.Path.cwd().name)",
        "x = sum(range(10))\nx",
    )
    assert main(['run', str(nb), '--scale', 'tiny', '--out', str(tmp_path / 'out')]) == 0
    out = capsys.readouterr().out
    assert "[1/1] tiny.ipynb ... ok in" in out and str(tmp_path / 'out' / 'tiny.ipynb') in out
    ran = nbformat.read(tmp_path / 'out' / 'tiny.ipynb', as_version=4)
    assert ran.cells[0].outputs[0]['text'] == f'scale tiny\ncwd {tmp_path.name}\n'  # runs in its own folder
    assert ran.cells[1].outputs[0]['data']['text/plain'] == '45'
    assert nbformat.read(nb, as_version=4).cells[0].outputs == []  # the source is not modified


@pytest.mark.slow
def test_run_failing_cell_reports_and_continues(tmp_path, capsys):
    bad = _nb(tmp_path / 'a_bad.ipynb', "x = 1", "raise ValueError('boom')", "y = 2")
    good = _nb(tmp_path / 'b_good.ipynb', "print('fine')")
    assert main(['run', str(bad), str(good), '--scale', 'tiny', '--out', str(tmp_path / 'out')]) == 1
    out = capsys.readouterr().out
    assert 'FAILED' in out and 'a_bad.ipynb cell 1: ValueError: boom' in out
    assert '[2/2] b_good.ipynb ... ok' in out
    assert '1 of 2 notebooks ran without error' in out
    assert (tmp_path / 'out' / 'a_bad.ipynb').exists() and (tmp_path / 'out' / 'b_good.ipynb').exists()
    # --stop-on-error stops after the first failure
    assert (
        main(['run', str(bad), str(good), '--scale', 'tiny', '--out', str(tmp_path / 'out2'), '--stop-on-error']) == 1
    )
    assert not (tmp_path / 'out2' / 'b_good.ipynb').exists()


@pytest.mark.parametrize(
    'argv, code, msg',
    [
        (['run', 'no_such_notebook.ipynb', '--scale', 'tiny'], 2, "notebook 'no_such_notebook.ipynb' not found"),
        (['run', str(REPO / 'settings.ini'), '--scale', 'tiny'], 2, 'is not a notebook (.ipynb)'),
        (['run', '--scale', 'tiny', '--timeout', '0'], 2, '--timeout must be positive'),
        (['grade', 'x', '--out', 'o', '--jobs', '0'], 2, '--jobs must be at least 1'),
        (['grade', '.', '--out', 'o', '--bundle', '/no/such/bundle'], 2, "grader bundle '/no/such/bundle' not found"),
        (['release', '/no/such.ipynb', '--out', 'o'], 2, "exercise notebook '/no/such.ipynb' not found"),
    ],
)
def test_bad_arguments_clear_errors(argv, code, msg, capsys):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert msg in err and 'Traceback' not in err


@pytest.mark.parametrize(
    'argv, msg',
    [
        (['run', '--scale', 'huge'], "invalid choice: 'huge'"),
        (['grade', 'subs'], 'the following arguments are required: --out'),
        (['release', 'x.ipynb'], 'the following arguments are required: --out'),
        (['frobnicate'], "invalid choice: 'frobnicate'"),
    ],
)
def test_argparse_errors(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert msg in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert 'run' in capsys.readouterr().out


def test_settings(capsys, monkeypatch):
    monkeypatch.setenv('COURSE_SCALE', 'tiny')
    assert main(['settings']) == 0
    out = capsys.readouterr().out
    assert 'scale: tiny' in out and 'mirrors:' in out and 'cache:' in out and 'grading: cell_timeout=' in out


def test_lessons_found_in_repo():
    assert repo_root() == REPO
    les = lesson_notebooks()
    assert [p.name[:3] for p in les] == ['01_', '02_', '03_', '04_', '05_'] and all(
        p.parent == REPO / 'nbs' / 'lessons' for p in les
    )
    assert les == sorted(les)


def _homework(tmp_path):
    return _nb(
        tmp_path / 'hw.ipynb',
        "from course_lib.grading import check",
        "#| exercise: q1 points=3\n### BEGIN SOLUTION\nanswer = 6 * 7\n### END SOLUTION",
        "# tests: q1\nassert answer == 42\n### BEGIN HIDDEN TESTS\nassert isinstance(answer, int)\n### END HIDDEN TESTS",
    )


def test_release_command(tmp_path, capsys):
    ex = _homework(tmp_path)
    assert main(['release', str(tmp_path), '--out', str(tmp_path / 'rel')]) == 0  # a folder: every notebook in it
    assert (tmp_path / 'rel' / 'student' / 'hw.ipynb').exists() and (tmp_path / 'rel' / 'grader' / 'hw.json').exists()
    assert f"hw: student {tmp_path / 'rel' / 'student' / 'hw.ipynb'}" in capsys.readouterr().out
    assert main(['release', str(ex), '--out', str(tmp_path / 'rel')]) == 0
    # a broken exercise: clear error naming notebook, cell and line
    bad = _nb(tmp_path / 'broken.ipynb', "#| exercise: q1\n### BEGIN SOLUTION\nx = 1\n")
    assert main(['release', str(bad), '--out', str(tmp_path / 'rel2')]) == 2
    assert 'broken.ipynb, cell 0, line 2: ### BEGIN SOLUTION on line 2 is never closed' in capsys.readouterr().err


@pytest.mark.slow
def test_release_and_grade_commands(tmp_path, capsys):
    ex = _homework(tmp_path)
    assert main(['release', str(ex), '--out', str(tmp_path / 'rel')]) == 0
    subs = tmp_path / 'subs'
    subs.mkdir()
    shutil.copy(ex, subs / 'ann.ipynb')
    shutil.copy(tmp_path / 'rel' / 'student' / 'hw.ipynb', subs / 'bob.ipynb')
    capsys.readouterr()
    assert (
        main(
            [
                'grade',
                str(subs),
                '--out',
                str(tmp_path / 'g'),
                '--bundle',
                str(tmp_path / 'rel'),
                '--jobs',
                '2',
                '--cell-timeout',
                '30',
                '--notebook-timeout',
                '120',
                '--no-progress',
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert 'Grades (points / max)' in out and 'gradebook.csv' in out
    gb = (tmp_path / 'g' / 'gradebook.csv').read_text().splitlines()
    assert (
        gb[1].startswith('ann,hw,q1,3,3,passed')
        and gb[2].startswith('bob,hw,q1,0,3,error,')
        and 'not answered' in gb[2]
    )


def test_grade_help_says_how_submissions_are_laid_out(capsys):
    with pytest.raises(SystemExit) as e:
        main(['grade', '--help'])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for expected in (
        'one folder per student:   <class>/<student>/.../<notebook>.ipynb',
        'one notebook per student: <class>/<student>.ipynb',
        "nbgrader's submitted/<student>/<assignment>/<notebook>.ipynb",
        'matches no exercise is\n  listed in the summary and skipped',
        '--manual GRADES.csv',
        'Exit status: 0 graded; 1 the grader failed on some notebook',
    ):
        assert expected in out, expected


def _fail_worker(log):
    return subprocess.Popen(
        [sys.executable, '-c', 'import sys; sys.stdin.read(); sys.exit(3)'],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.PIPE,
        start_new_session=True,
    )


def test_grade_exits_1_when_workers_fail_and_2_on_a_bad_grades_file(tmp_path, capsys, monkeypatch):
    ex = _homework(tmp_path)
    assert main(['release', str(ex), '--out', str(tmp_path / 'rel')]) == 0
    (tmp_path / 'subs').mkdir()
    shutil.copy(ex, tmp_path / 'subs' / 'ann.ipynb')
    monkeypatch.setattr(gradebook, '_start_worker', _fail_worker)
    capsys.readouterr()
    argv = ['grade', str(tmp_path / 'subs'), '--out', str(tmp_path / 'g'), '--bundle', str(tmp_path / 'rel')]
    assert main(argv + ['--no-progress']) == 1
    out = capsys.readouterr().out
    assert 'FAILED: the grader could not grade 1 notebook(s) (not cached: run again to retry):' in out
    assert '  ann: the grading worker stopped (exit code 3)' in out
    (tmp_path / 'grades.csv').write_text('who,points\n')
    assert main(argv + ['--manual', str(tmp_path / 'grades.csv')]) == 2
    assert 'the grades file needs the columns student, question, points' in capsys.readouterr().err


@pytest.mark.slow
def test_readme_grade_command_with_relative_paths_from_any_folder(tmp_path):
    "`course release …` and `course grade submissions/ --out graded --bundle release`, run where the files are."
    ex = _homework(tmp_path)
    (tmp_path / 'submissions').mkdir()
    shutil.copy(ex, tmp_path / 'submissions' / 'ann.ipynb')
    exe = shutil.which('course')
    r = subprocess.run([exe, 'release', 'hw.ipynb', '--out', 'release'], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    shutil.copy(tmp_path / 'release' / 'student' / 'hw.ipynb', tmp_path / 'submissions' / 'bob.ipynb')
    cmd = [exe, 'grade', 'submissions/', '--out', 'graded', '--bundle', 'release', '--jobs', '2', '--no-progress']
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    gb = (tmp_path / 'graded' / 'gradebook.csv').read_text().splitlines()
    assert gb[1].startswith('ann,hw,q1,3,3,passed') and gb[2].startswith('bob,hw,q1,0,3,error,'), gb
    assert (tmp_path / 'graded' / 'totals.csv').read_text().splitlines()[1:] == ['ann,3,3,3,0', 'bob,0,0,3,0']


def test_console_script():
    exe = shutil.which('course')
    assert exe, 'the `course` console script is installed (pip install -e .)'
    r = subprocess.run([exe, 'run', '--help'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--scale' in r.stdout


# ---------------------------------------------------------------------------------------------- course run, as a learner
def test_progress_counts_the_cells_nbclient_runs():
    from nbformat.v4 import new_markdown_cell

    from course_lib.runner import _Progress

    nb = new_notebook(
        cells=[new_code_cell('x = 1'), new_markdown_cell('# title'), new_code_cell('  '), new_code_cell('y')]
    )
    nb.cells.append(new_code_cell('z = 2', metadata={'tags': ['skip-execution']}))
    p = _Progress(nb, '[1/1] demo.ipynb', enabled=False)
    assert p.total == 2  # two code cells with code; markdown, empty and skip-execution cells are not run
    p.cell_executed(cell=nb.cells[0], cell_index=0, execute_reply={})
    assert p.n == 1
    p.close()


def test_kernels_talk_over_unix_sockets(tmp_path):
    from course_lib.runner import _ipc_kernel_manager

    km = _ipc_kernel_manager(tmp_path)(kernel_name='python3')
    assert km.transport == 'ipc' and km.ip == str(tmp_path / 'kernel')
    assert km.connection_file == str(tmp_path / 'kernel.json')


@pytest.mark.slow
def test_run_prints_no_tcp_warning_shows_progress_and_the_scoreboard(tmp_path):
    "`course run` as a learner sees it: no kernel warning, a progress bar per notebook, the scoreboard last."
    nb = _nb(
        tmp_path / 'lesson.ipynb',
        "import os\nprint(os.environ['COURSE_RESULTS_DIR'])",
        "from course_lib.scoreboard import record_claim\nrecord_claim('lesson', 'old claim', 1.0, 0.5, 1.5)",
        "record_claim('lesson', 'kept claim', -1.0, -2.0, -0.5)",
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 4])\nplt.show()",
    )
    out = tmp_path / 'out'
    cmd = [shutil.which('course'), 'run', str(nb), '--scale', 'tiny', '--out', str(out)]
    env = {**os.environ, 'MPLBACKEND': 'Agg'}  # as in CI: the kernels still draw inline, into the executed copy
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'without encryption' not in r.stderr and 'without encryption' not in r.stdout
    assert '[1/1] lesson.ipynb: cell 0/4' in r.stderr  # the bar (cells done / total, elapsed) on stderr
    assert '[1/1] lesson.ipynb ... ok in' in r.stdout and '(4 cells)' in r.stdout
    last = r.stdout.strip().splitlines()
    assert last[-6].startswith('Scoreboard (tiny scale;') and '[contradicted] kept claim' in r.stdout, r.stdout
    assert last[-1] == f"(written to {out / 'results.json'})"
    # the kernel wrote its claims to a folder of its own; they were moved into claims/
    ran = nbformat.read(out / 'lesson.ipynb', as_version=4)
    assert ran.cells[0].outputs[0]['text'].strip() == str(out / 'claims' / '.running-lesson')
    assert any('image/png' in o.get('data', {}) for o in ran.cells[3].outputs)  # the plot is in the executed copy
    assert [c['claim'] for c in json.loads((out / 'claims' / 'lesson.json').read_text())] == ['old claim', 'kept claim']
    # a second run of the lesson replaces its claims: a claim it no longer makes is gone from the scoreboard
    nbformat.write(
        new_notebook(
            cells=[
                new_code_cell(c)
                for c in [
                    "from course_lib.scoreboard import record_claim",
                    "record_claim('lesson', 'kept claim', -1.0, -2.0, -0.5)",
                ]
            ]
        ),
        nb,
    )
    r = subprocess.run(cmd + ['--no-progress'], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and 'old claim' not in r.stdout and 'cell 0/' not in r.stderr, r.stdout + r.stderr
    res = json.loads((out / 'results.json').read_text())
    assert res['scale'] == 'tiny' and [c['claim'] for c in res['lessons']['lesson']] == ['kept claim']
    assert not list((out / 'claims').glob('.running-*'))


def test_run_dry_run_says_what_it_would_do(tmp_path, capsys):
    assert main(['run', '--scale', 'tiny', '--dry-run', '--out', str(tmp_path / 'o')]) == 0
    out = capsys.readouterr().out
    assert f"notebook(s) at scale 'tiny' -> {tmp_path / 'o'}" in out
    assert f"would run {REPO / 'nbs' / 'lessons' / '01_transfer_learning.ipynb'}" in out
    assert not (tmp_path / 'o').exists()


# ---------------------------------------------------------------------------------------------- course grade
def test_grade_exits_1_when_a_notebook_matches_no_exercise(tmp_path, capsys):
    ex = _homework(tmp_path)
    assert main(['release', str(ex), '--out', str(tmp_path / 'rel')]) == 0
    (tmp_path / 'subs').mkdir()
    _nb(tmp_path / 'subs' / 'zoe.ipynb', "print('an essay, not the homework')")
    capsys.readouterr()
    argv = ['grade', str(tmp_path / 'subs'), '--out', str(tmp_path / 'g'), '--bundle', str(tmp_path / 'rel')]
    assert main(argv + ['--no-progress']) == 1
    out = capsys.readouterr().out
    assert 'course grade: 1 notebook(s) skipped, not graded (zoe): exit status 1' in out


@pytest.mark.parametrize(
    'argv, msg',
    [
        (['grade', 's', '--out', 'o', '--engine', 'spark'], "invalid choice: 'spark'"),
        (['run', '--bogus'], 'unrecognized arguments: --bogus'),
    ],
)
def test_engine_choices_and_unknown_options(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and msg in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- the README's two commands
def _readme_commands():
    "The two commands of the README's 'Two commands' section (the lines of its bash block that are not comments)."
    text = (REPO / 'README.md').read_text()
    block = text.split('## Two commands', 1)[1].split('```bash', 1)[1].split('```', 1)[0]
    cmds = [line for line in block.splitlines() if line.strip() and not line.startswith('#')]
    assert len(cmds) == 2, cmds
    return cmds


@pytest.mark.slow
def test_readme_commands_work_from_any_folder_inside_the_clone():
    "Command 1 (install + `course run`) and command 2 (`course test`), from a subfolder; cheap variants of each."
    install, test = _readme_commands()
    assert test.startswith('course test') and 'course run' in install
    sub = REPO / 'nbs' / 'lessons'
    cheap = install.replace('pip install', 'pip install --dry-run --no-deps --no-build-isolation').replace(
        'course run', 'course run --dry-run --scale tiny'
    )
    r = subprocess.run(['bash', '-c', cheap], cwd=sub, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'Would install course_lib' in r.stdout and f"would run {sub / '01_transfer_learning.ipynb'}" in r.stdout
    r = subprocess.run(
        ['bash', '-c', f'{test} --collect-only -q'], cwd=sub, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f'course test: cd {REPO} && COURSE_SCALE=tiny python -m pytest tests nbs --nbval-lax' in r.stdout
    assert 'tests/test_cli.py::test_readme_commands_work_from_any_folder_inside_the_clone' in r.stdout
    assert 'nbs/lessons/01_transfer_learning.ipynb::Cell 0' in r.stdout  # the notebooks too, at the root's paths


def test_site_command_is_the_websites(tmp_path, capsys):
    "`course site` is registered by course_lib.website; a missing run folder is a clear error (exit 2)."
    assert main(['site', '--run', str(tmp_path / 'none'), '--out', str(tmp_path / 'site')]) == 2
    assert f"no run folder {tmp_path / 'none'}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['site', '--help'])
    assert '--run' in capsys.readouterr().out
