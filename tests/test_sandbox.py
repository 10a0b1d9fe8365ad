"""Tests of course_lib.sandbox: limits, the output cap, process-tree kills, and (slow) the grading kernel itself:
timeouts, crashes, restart and replay (crashes armed for the next cell), and the kernel inside bubblewrap."""

import ast
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from course_lib.core import GRADING_DEFAULTS, load_settings
from course_lib.isolation import bwrap_path
from course_lib.sandbox import PAYLOAD_MIME, GradingKernel, Limits, _client_class, _kill_tree

REPO = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(
    bwrap_path() is None, reason='bubblewrap is not installed (apt-get install bubblewrap)'
)
ISOLATIONS = ['none', pytest.param('bwrap', marks=needs_bwrap)]


def test_limits_defaults_are_cores():
    lim = Limits()
    for k in ('cell_timeout', 'notebook_timeout', 'memory_mb', 'max_output_chars'):
        assert getattr(lim, k) == GRADING_DEFAULTS[k], k
    assert lim.preload == ('numpy', 'torch')
    assert lim.isolation == 'auto'


def test_limits_from_settings_ini_and_overrides(tmp_path):
    (tmp_path / 'settings.ini').write_text('[course]\nscale = tiny\n[grading]\ncell_timeout = 7\nmemory_mb = 900\n')
    s = load_settings(tmp_path / 'settings.ini', env={}, check_cache=False)
    lim = Limits.from_settings(s)
    assert (lim.cell_timeout, lim.memory_mb) == (7, 900)
    assert lim.notebook_timeout == GRADING_DEFAULTS['notebook_timeout']
    lim = Limits.from_settings(s, cell_timeout=3, notebook_timeout=None)
    assert (lim.cell_timeout, lim.notebook_timeout) == (3, GRADING_DEFAULTS['notebook_timeout'])


def _msg(msg_type, content):
    return {
        'msg_type': msg_type,
        'header': {'msg_type': msg_type},
        'parent_header': {'msg_id': 'm'},
        'content': content,
    }


def _stream(text):
    return _msg('stream', {'name': 'stdout', 'text': text})


def test_output_cap_counts_every_output_and_keeps_payloads():
    client = _client_class()(nbformat.v4.new_notebook())
    client.clear_before_next_output = False  # what nbclient sets before it runs a cell
    client.cap = 100
    outs = []
    client.output(outs, _stream('x' * 60), None, 0)
    client.output(outs, _stream('y' * 60), None, 0)  # over the cap: one note instead
    client.output(outs, _stream('z' * 10), None, 0)  # and nothing more
    payload = _msg('display_data', {'data': {PAYLOAD_MIME: {'results': ['r' * 500]}}, 'metadata': {}})
    client.output(outs, payload, None, 0)  # results are never cut
    client.output(outs, _stream('w' * 60), None, 1)  # another cell has its own budget
    assert [o.get('text', '')[:1] for o in outs] == ['x', '[', '', 'w']
    assert outs[1]['text'] == '[output cut: more than 100 characters]\n' and outs[1]['name'] == 'stderr'
    assert PAYLOAD_MIME in outs[2]['data']


def test_output_cap_keeps_errors_cut_to_size():
    client = _client_class()(nbformat.v4.new_notebook())
    client.clear_before_next_output = False
    client.cap = 100
    outs = []
    client.output(outs, _stream('x' * 500), None, 0)  # over the cap at once: the note only
    err = {'ename': 'ValueError', 'evalue': 'v' * 5000, 'traceback': [f'frame {i} ' + 't' * 5000 for i in range(10)]}
    client.output(outs, _msg('error', err), None, 0)  # past the cap, an error is still kept
    client.output(outs, _stream('z' * 10), None, 0)
    assert [o['output_type'] for o in outs] == ['stream', 'error']
    e = outs[1]
    assert e['ename'] == 'ValueError' and len(e['evalue']) <= 100 and e['evalue'].startswith('vvv')
    assert len(e['traceback']) == 3 and e['traceback'][-1].startswith('frame 9') and len(e['traceback'][-1]) <= 500


def test_kill_tree_kills_descendants_in_other_process_groups():
    parent = subprocess.Popen(
        [
            sys.executable,
            '-c',
            'import subprocess, time; subprocess.Popen(["sleep", "60"], start_new_session=True); time.sleep(60)',
        ],
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not psutil.Process(parent.pid).children(recursive=True) and time.monotonic() < deadline:
        time.sleep(0.1)
    family = [psutil.Process(parent.pid)] + psutil.Process(parent.pid).children(recursive=True)
    assert len(family) == 2
    assert os.getpgid(family[1].pid) != os.getpgid(parent.pid) != os.getpgid(0)
    _kill_tree(parent.pid)
    parent.wait(timeout=10)
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive
    _kill_tree(parent.pid)  # a process that is gone: nothing to do, no error


@pytest.mark.slow
@pytest.mark.parametrize('isolation', ISOLATIONS)
def test_grading_kernel_survives_timeouts_crashes_memory_and_floods(tmp_path, isolation):
    limits = Limits(cell_timeout=2, notebook_timeout=60, memory_mb=500, max_output_chars=1000, preload=())
    k = GradingKernel(tmp_path, limits, dict(os.environ), isolation=isolation)
    k.start()
    try:
        assert k.run('x = 21')[:2] == ('ok', '')
        assert k.run('1 / 0')[:2] == ('error', 'ZeroDivisionError: division by zero')
        t0 = time.monotonic()
        assert k.run('while True:\n    pass')[:2] == ('timeout', 'over the 2 s cell time limit')
        assert time.monotonic() - t0 < 15 and k.restarts == 0  # interrupted, not restarted
        assert k.run('assert x == 21')[0] == 'ok'
        st = k.run("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
        assert st[0] == 'timeout' and k.restarts == 1  # ignores the interrupt: killed and restarted, x replayed
        assert k.run('assert x == 21')[0] == 'ok'
        st = k.run("print('y' * 5000)")
        assert st[0] == 'ok' and st[2].outputs[-1]['text'] == '[output cut: more than 1000 characters]\n'
        st = k.run("print('y' * 5000)\nraise ValueError('wrong answer')")  # a flood, then an error: still an error
        assert st[:2] == ('error', 'ValueError: wrong answer')
        assert st[2].outputs[0]['text'].startswith('[output cut') and st[2].outputs[-1]['ename'] == 'ValueError'
        assert k.run('import os\nos._exit(3)')[:2] == ('dead', 'the kernel died (crash, or the memory limit)')
        assert k.restarts == 3 and k.skipped == []  # restarted, tried once more, died again, restarted
        assert k.run('assert x * 2 == 42')[0] == 'ok'
        assert k.run('blob = bytearray(2 * 1024**3)')[:2] == ('error', 'MemoryError: ')
        assert os.listdir(tmp_path) == []  # the kernel ran in the folder it was given
        pid = k.client.km.provisioner.pid
    finally:
        k.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert k.run('x')[:2] == ('dead', 'the kernel could not be restarted')


ARMED = "import os\nget_ipython().events.register('pre_run_cell', lambda *a: os._exit(1))"  # kills the next cell


@pytest.mark.slow
def test_a_crash_armed_for_the_next_cell_is_left_out_of_the_replay(tmp_path):
    "Ten answers, each followed by its tests; answer 3 arms a crash: the nine others are graded."
    k = GradingKernel(tmp_path, Limits(cell_timeout=10, memory_mb=0, preload=()), dict(os.environ))
    k.start()
    passed = []
    try:
        for i in range(10):
            k.run(f"a{i} = {i}" if i != 3 else f"a{i} = {i}\n{ARMED}")
            st = k.run(f"assert a{i} == {i}", record=False)  # the tests: never replayed
            passed.append(st[0] == 'ok')
    finally:
        k.stop()
    assert passed == [True] * 3 + [False] + [True] * 6, passed
    assert k.restarts == 2 and len(k.skipped) == 1 and 'pre_run_cell' in k.skipped[0]


@pytest.mark.slow
def test_a_setup_cell_killed_by_an_armed_crash_runs_again(tmp_path):
    k = GradingKernel(tmp_path, Limits(cell_timeout=10, memory_mb=0, preload=()), dict(os.environ))
    k.start()
    try:
        assert k.run('base = 3')[0] == 'ok'
        assert k.run(ARMED)[0] == 'ok'  # an answer that arms a crash, with no tests right after it
        st = k.run('setup = base * 2')  # a setup cell: the crash fires here
        assert st[:2] == ('ok', ''), st  # the kernel was restarted without the armed cell, and the setup ran again
        assert k.run('assert setup == 6', record=False)[0] == 'ok'  # a later answer still finds its variables
        assert k.skipped == [ARMED]
    finally:
        k.stop()


@pytest.mark.slow
def test_preamble_runs_in_every_new_kernel_before_the_replay(tmp_path):
    k = GradingKernel(tmp_path, Limits(cell_timeout=10, memory_mb=0, preload=()), dict(os.environ), preamble='boot = 1')
    k.start()
    try:
        k.run('boot += 1')
        assert k.run('import os\nos._exit(1)', record=False)[0] == 'dead'
        assert k.run('assert boot == 2')[0] == 'ok'  # preamble, then the replayed history
        assert 'boot = 1' not in k.history
    finally:
        k.stop()


# ---------------------------------------------------------------------------------------------- bubblewrap
@pytest.mark.slow
@needs_bwrap
def test_kernel_in_bubblewrap_sees_no_network_no_grader_files_and_its_own_processes(tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    bundle = tmp_path / 'release' / 'grader' / 'ex.json'  # what the grader can read, the kernel must not
    bundle.parent.mkdir(parents=True)
    bundle.write_text('{"hidden": "assert answer == 42"}')
    assert (REPO / 'README.md').exists()
    server = socket.socket()  # a service of the grader's, on its loopback
    server.bind(('127.0.0.1', 0))
    server.listen()
    port = server.getsockname()[1]
    k = GradingKernel(work, Limits(cell_timeout=20, memory_mb=0, preload=(), isolation='bwrap'), dict(os.environ))
    k.start()
    try:
        probe = f"""
import os, socket, subprocess
def reach(addr):
    try:
        socket.create_connection(addr, timeout=3).close()
        return 'connected'
    except OSError as e:
        return type(e).__name__
print(reach(('127.0.0.1', {port})), reach(('1.1.1.1', 53)))
print(os.path.exists({str(bundle)!r}), os.path.exists({str(REPO / 'README.md')!r}), os.path.exists('/proc/{os.getpid()}'))
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
open('mine.txt', 'w').write('ok')
subprocess.Popen('(setsid sleep 4321 &)', shell=True).wait()
"""
        st, msg, cell = k.run(probe)
        assert st == 'ok', msg
        lines = ''.join(o.get('text', '') for o in cell.outputs).splitlines()
        assert lines[0] == 'ConnectionRefusedError OSError'  # its own empty loopback; no route out
        assert lines[1] == 'False False False'  # no bundle, no repository, no grader process
        assert max(ast.literal_eval(lines[2])) < 100  # a pid namespace of its own
        assert (work / 'mine.txt').read_text() == 'ok'  # the work folder is shared, read-write
        assert [p for p in psutil.process_iter(['cmdline']) if p.info['cmdline'] == ['sleep', '4321']]
    finally:
        k.stop()
        server.close()
    _, alive = psutil.wait_procs(
        [p for p in psutil.process_iter(['cmdline']) if p.info['cmdline'] == ['sleep', '4321']], timeout=10
    )
    assert not alive  # the escaped, double-forked process died with the sandbox


@pytest.mark.slow
@needs_bwrap
def test_grades_are_the_same_with_and_without_bubblewrap(tmp_path):
    from course_lib.autograde import grade_submission
    from course_lib.exercise import read_exercise
    from course_lib.release import build_release

    cells = [
        "import numpy as np\nbase = np.arange(4)",
        "#| exercise: q1 points=2\ndef double(a):\n    ### BEGIN SOLUTION\n    return 2 * a\n    ### END SOLUTION",
        "# tests: q1\nassert double(base).tolist() == [0, 2, 4, 6]\n### BEGIN HIDDEN TESTS\nassert double(1) == 2\n### END HIDDEN TESTS",
        "#| exercise: q2 points=1\n### BEGIN SOLUTION\ntotal = int(base.sum())\n### END SOLUTION",
        "# tests: q2\nassert total == 6",
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), tmp_path / 'ex.ipynb')
    _, bundle = build_release(read_exercise(tmp_path / 'ex.ipynb'))
    wrong = list(cells)
    wrong[1] = "#| exercise: q1 points=2\ndef double(a):\n    print('x' * 9000)\n    raise ValueError('no')"
    grades = {}
    for name, src in (('right', cells), ('wrong', wrong)):
        p = tmp_path / f'{name}.ipynb'
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in src]), p)
        for iso in ('none', 'bwrap'):
            lim = Limits(
                cell_timeout=20,
                notebook_timeout=120,
                memory_mb=1000,
                max_output_chars=2000,
                preload=('numpy',),
                isolation=iso,
            )
            res = grade_submission(p, bundle, lim)
            grades[name, iso] = [(r['question'], r['points'], r['status'], r['reason']) for r in res['questions']]
    assert grades['right', 'none'] == grades['right', 'bwrap'] and sum(r[1] for r in grades['right', 'bwrap']) == 3
    assert grades['wrong', 'none'] == grades['wrong', 'bwrap'] and grades['wrong', 'bwrap'][0][1:3] == (0, 'error')
