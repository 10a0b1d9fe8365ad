"""Tests of course_lib.kernel_side: the boot cell, one cell per question, the results that must come back, and
the submission's own temporary folder. No kernel: the boot cell runs in this process, with a stand-in IPython."""

import ast
import base64
import builtins
import os
import sys
import types
import zlib

import nbformat
import numpy as np
import pytest

from course_lib import checks
from course_lib.kernel_side import _hidden_from_kernel, _kernel_env, _remove, _tests_blob, _workspace
from course_lib.kernel_side import boot_source, collect_results, new_token, run_source
from course_lib.sandbox import PAYLOAD_MIME

BUNDLE = {
    'name': 'demo',
    'questions': [
        dict(id='q1', points=1, answer_ids=['q1'], n_visible=2, n_hidden=1,
             visible='assert f(2) == 4\nassert_close(f(1.5), 2.25)', hidden="assert np.allclose(f(np.arange(3)), [0, 1, 4])"),
        dict(id='essay', points=2, answer_ids=['essay'], visible='', hidden='', n_visible=0, n_hidden=0, manual=True),
    ],
}  # fmt: skip


@pytest.fixture
def shell(monkeypatch):
    "A stand-in for the kernel's IPython: what the runner publishes lands in `published`."
    import IPython

    published = []
    pub = types.SimpleNamespace(publish=lambda data, metadata=None: published.append(data))
    monkeypatch.setattr(IPython, 'get_ipython', lambda: types.SimpleNamespace(display_pub=pub))
    return published


def test_boot_source_holds_no_readable_test():
    token = new_token()
    src = boot_source(BUNDLE, token)
    assert 'np.allclose(f(np.arange(3))' not in src and 'assert f(2)' not in src and token in src
    spec = __import__('json').loads(zlib.decompress(base64.b64decode(_tests_blob(BUNDLE))))
    assert list(spec) == ['q1'] and spec['q1']['namespace'] == 'copy'  # manual questions have no tests
    ast.parse(src)
    assert (
        run_source(token, 'q1', 'n1')
        == f"__import__('sys').modules['_course_grader_{token}'].run('q1', 'n1', globals())"
    )


def test_boot_runs_the_tests_with_what_it_captured_before_the_student(shell):
    "After the boot, monkeypatching exec, abs, ast.parse, numpy.allclose or display changes nothing."
    token = new_token()
    exec(boot_source(BUNDLE, token), {})
    runner = sys.modules.pop(f'_course_grader_{token}')
    assert not [k for k in sys.modules if k.startswith('_course_fresh_')]
    wrong = {'f': lambda x: x + 1, 'np': np}
    real = builtins.exec, builtins.abs, ast.parse, np.allclose
    try:
        builtins.exec = lambda *a, **k: None
        builtins.abs = lambda x: 0
        ast.parse = lambda *a, **k: ast.Module(body=[], type_ignores=[])
        np.allclose = lambda *a, **k: True
        runner.run('q1', 'n1', wrong)
        # (the package's own copy, imported the ordinary way, is fooled by the same patches)
        fooled = checks.run_tests('assert f(2) == 5', wrong)
    finally:
        builtins.exec, builtins.abs, ast.parse, np.allclose = real
    res = shell[-1][PAYLOAD_MIME]
    assert res['nonce'] == 'n1' and [r['status'] for r in res['results']] == ['failed', 'failed', 'failed']
    assert [r['status'] for r in fooled] == ['passed']  # f(2) == 5 is false: the patched exec skipped it
    runner.run('q1', 'n2', {'f': lambda x: x * x, 'np': np})
    assert [r['status'] for r in shell[-1][PAYLOAD_MIME]['results']] == ['passed'] * 3


def _out(d):
    return nbformat.v4.new_output('display_data', data={PAYLOAD_MIME: d})


def test_collect_results_wants_exactly_one_full_set():
    q1 = BUNDLE['questions'][0]
    r = [dict(kind='visible', label='t', status='passed', message='', etype='')] * 2 + [
        dict(kind='hidden', label='hidden test 1', status='failed', message='', etype='AssertionError')
    ]
    ok = {'nonce': 'n1', 'qid': 'q1', 'results': r}
    cell = nbformat.v4.new_code_cell('', outputs=[_out(dict(ok, nonce='other')), _out(ok)])
    assert collect_results(cell, 'n1', q1) == (r, '')
    assert collect_results(None, 'n1', q1) == (None, 'the tests could not run: no result came back')
    cell.outputs.append(_out(ok))
    assert collect_results(cell, 'n1', q1) == (None, 'the tests could not run: 2 sets of results came back (forged?)')
    for bad in ([], r[:2], r + r[:1], [dict(r[0], status='great')] + r[1:], [dict(r[0], label=3)] + r[1:], 'all'):
        tests, why = collect_results(nbformat.v4.new_code_cell('', outputs=[_out(dict(ok, results=bad))]), 'n1', q1)
        assert tests is None and why.startswith('the tests did not all report'), bad
    tests, why = collect_results(nbformat.v4.new_code_cell('', outputs=[_out(dict(ok, qid='q2'))]), 'n1', q1)
    assert tests is None


def test_workspace_is_private_and_removed(tmp_path):
    sub = tmp_path / 'subs' / 'alice.ipynb'
    sub.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), sub)
    work = _workspace(sub)
    env = _kernel_env(work)
    assert env['TMPDIR'] == str(work / 'tmp') and env['MPLCONFIGDIR'].startswith(str(work))
    assert (work / 'submission.ipynb').read_bytes() == sub.read_bytes()
    locked = work / 'tmp' / 'a' / 'b'
    locked.mkdir(parents=True)
    (locked / 'f').write_text('x')
    os.chmod(locked, 0o500)
    os.chmod(work / 'tmp' / 'a', 0o000)
    (work / 'link').symlink_to(tmp_path)
    _remove(work)
    assert not work.exists() and tmp_path.exists()
    out = tmp_path / 'graded'
    assert _hidden_from_kernel(sub, out / 'results' / 'alice.partial.json', work) == [sub.parent, out]
    assert _hidden_from_kernel(work / 'submission.ipynb', None, work) == []
