"""Tests of course_lib.sandbox: limits, the output cap, process-tree kills, and (slow) the grading kernel itself."""

import os
import subprocess
import sys
import time

import nbformat
import psutil
import pytest

from course_lib.core import GRADING_DEFAULTS, load_settings
from course_lib.sandbox import PAYLOAD_MIME, GradingKernel, Limits, _client_class, _kill_tree


def test_limits_defaults_are_cores():
    lim = Limits()
    for k in ('cell_timeout', 'notebook_timeout', 'memory_mb', 'max_output_chars'):
        assert getattr(lim, k) == GRADING_DEFAULTS[k], k
    assert lim.preload == ('numpy', 'torch')


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
def test_grading_kernel_survives_timeouts_crashes_memory_and_floods(tmp_path):
    limits = Limits(cell_timeout=2, notebook_timeout=60, memory_mb=500, max_output_chars=1000, preload=())
    k = GradingKernel(tmp_path, limits, dict(os.environ))
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
        assert k.run('import os\nos._exit(3)')[:2] == ('dead', 'the kernel died (crash, or the memory limit)')
        assert k.restarts == 2 and k.run('assert x * 2 == 42')[0] == 'ok'
        assert k.run('blob = bytearray(2 * 1024**3)')[:2] == ('error', 'MemoryError: ')
        assert os.listdir(tmp_path) == []  # the kernel ran in the folder it was given
        pid = k.client.km.provisioner.pid
    finally:
        k.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert k.run('x')[:2] == ('dead', 'the kernel could not be restarted')
