"""Tests of course_lib.checks: the in-notebook test engine, `check()`, tensor-aware messages."""

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_lib import checks
from course_lib.checks import assert_close, assert_shape, check, describe_difference, run_tests
from course_lib.release import release

REPO = Path(__file__).resolve().parents[1]


def test_checks_imports_only_the_standard_library():
    code = "import course_lib.checks, sys; assert 'numpy' not in sys.modules and 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_checks_imports_nothing_from_course_lib():
    "The grader loads a fresh copy of checks.py into the student's kernel: it must stand on its own."
    src = Path(checks.__file__).read_text()
    assert not re.search(r'^\s*(from|import)\s+(\.|course_lib)', src, re.M)


def test_describe_difference():
    msg = describe_difference(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.5]]))
    assert msg.startswith('got array shape (2, 2) dtype float64, expected shape (2, 2) dtype float64')
    assert 'max abs difference 0.5; 1 of 4 values differ' in msg and 'e.g. [1,1] got 4 expected 4.5' in msg
    assert describe_difference(np.zeros((2, 3)), np.zeros((3, 2))).endswith('shapes differ')
    assert describe_difference(3, 4) == 'got 3, expected 4'
    assert describe_difference('a' * 300, 'b') == f"got {repr('a' * 300)[:117]}..., expected 'b'"
    assert '2 of 2 values differ' in describe_difference(np.array(['a', 'b']), np.array(['c', 'd']))


def test_assert_close_and_assert_shape():
    assert_close([1.0, 2.0], np.array([1.0, 2.0 + 1e-7]))
    assert_close(0.1 + 0.2, 0.3)
    assert_close('abc', 'abc')
    with pytest.raises(AssertionError, match=r'^mean: got 1.0, expected 2'):
        assert_close(1.0, 2, msg='mean')
    with pytest.raises(AssertionError, match='shapes differ'):
        assert_close(np.zeros(3), np.zeros(4))
    assert_shape(np.zeros((4, 3)), (None, 3))
    with pytest.raises(AssertionError, match=r'got shape \(4, 3\), expected \(4, 4\)'):
        assert_shape(np.zeros((4, 3)), (4, 4))


def test_run_tests_results_and_explanations():
    res = run_tests("y = x + 1\nassert y == 3\nassert x > 5\nassert_close(x, 2.5)\n", {'x': 2}, hidden="assert x == 2")
    assert [(r['kind'], r['label'], r['status']) for r in res] == [
        ('visible', 'assert y == 3', 'passed'),
        ('visible', 'assert x > 5', 'failed'),
        ('visible', 'assert_close(x, 2.5)', 'failed'),
        ('hidden', 'assert x == 2', 'passed'),
    ]
    assert res[1]['message'] == '2 > 5 is false' and res[1]['etype'] == 'AssertionError'
    assert res[2]['message'] == 'got 2, expected 2.5'
    res = run_tests("assert x == 3, 'x is wrong'", {'x': 2})
    assert res[0]['message'] == 'x is wrong; got 2, expected 3'


def test_run_tests_copies_the_namespace_and_uses_fresh_helpers():
    ns = {'x': 1, 'assert_close': lambda *a, **k: None}
    res = run_tests("x = 5\nassert_close(x, 6)", ns)
    assert ns['x'] == 1 and res[0]['status'] == 'failed'


def test_run_tests_after_a_broken_preparation_reports_not_run():
    res = run_tests("y = undefined_name\nassert y == 1\n", {}, hidden="assert True")
    assert [r['status'] for r in res] == ['error', 'error']
    assert res[0]['message'].startswith('not run: preparing the tests raised NameError')
    res = run_tests("assert False, 'boom'\n", {})
    assert res[0]['status'] == 'failed'

    def stub():
        raise NotImplementedError('q1: hint')

    res = run_tests("f()", {'f': stub})
    assert res[0]['etype'] == 'NotImplementedError' and res[0]['message'].startswith('not answered yet (')


def test_check_is_tensor_aware(capsys):
    import torch

    ns = dict(torch=torch, x=torch.tensor([[1.0, 2.0], [3.0, 4.0]]), assert_close=None)
    check(
        't1',
        "assert_close(x, torch.tensor([[1., 2.], [3., 4.5]]))\nassert x.dtype == torch.int64\n"
        "assert x.shape == (2, 3)\nassert torch.allclose(x, x + 1)",
        n_hidden=3,
        ns=ns,
    )
    out = capsys.readouterr().out
    assert out.startswith('❌ t1: 0 of 4 visible tests passed')
    assert 'max abs difference 0.5' in out and '[1,1] got 4 expected 4.5' in out
    assert 'got torch.float32, expected torch.int64' in out
    assert 'got torch.Size([2, 2]), expected (2, 3)' in out
    assert '4 of 4 values differ' in out
    assert '3 hidden tests will run at grading' in out and 'Traceback' not in out
    check('nothing-registered-xyz')
    assert 'no visible tests known' in capsys.readouterr().out


def test_check_tests_the_callers_variables(capsys):
    "Outside a kernel, check() reads the globals of the code that called it."
    answer = 41  # a local: not seen
    global CHECK_ANSWER
    CHECK_ANSWER = 42
    check('t-globals', 'assert CHECK_ANSWER == 42')
    assert check.last[0]['status'] == 'passed' and answer == 41
    check('t-globals')  # registered: the tests run again on the current values
    assert check.last[0]['status'] == 'passed'
    CHECK_ANSWER = 0
    check('t-globals', quiet=True)
    assert check.last[0]['status'] == 'failed' and capsys.readouterr().out.count('t-globals') == 2


def test_check_in_a_kernel_tests_the_notebooks_namespace(monkeypatch):
    "In a Jupyter kernel, check() reads IPython's user namespace (found through the public get_ipython())."
    shell = types.SimpleNamespace(user_ns={'value': 7})
    monkeypatch.setitem(sys.modules, 'IPython', types.SimpleNamespace(get_ipython=lambda: shell))
    check('t-kernel', 'assert value == 7', quiet=True)
    assert check.last[0]['status'] == 'passed'


def test_check_finds_tests_in_the_released_notebooks_metadata(tmp_path, monkeypatch, capsys):
    nb = nbformat.v4.new_notebook(
        metadata={'course_exercise': {'visible_tests': {'q-meta': 'assert z == 1\n'}, 'n_hidden': {'q-meta': 2}}}
    )
    (tmp_path / 'ex.ipynb').write_text(json.dumps(nb))
    (tmp_path / 'broken.ipynb').write_text('{')
    monkeypatch.chdir(tmp_path)
    check('q-meta', ns={'z': 1})
    out = capsys.readouterr().out
    assert out.startswith('✅ q-meta: all 1 visible test passed') and '(2 hidden tests will run at grading.)' in out


def test_check_never_shows_a_traceback(capsys):
    check('t-bad', 'assert (', ns={})
    out = capsys.readouterr().out
    assert out.startswith("check('t-bad') could not run the tests: SyntaxError") and check.last is None


def test_unanswered_question_gets_a_hint(capsys):
    def unanswered():
        raise NotImplementedError('q9: use torch.stack')

    check('t-nie', 'assert unanswered() == 1\nassert unanswered() > 0', ns={'unanswered': unanswered})
    out = capsys.readouterr().out
    assert out.startswith('⏳ t-nie: not answered yet (NotImplementedError: q9: use torch.stack).')


@pytest.mark.slow
def test_check_in_student_notebook_is_friendly(tmp_path):
    "Run the student release (unanswered) and one answered question: check() prints verdicts, no traceback."
    from nbclient import NotebookClient

    release([REPO / 'nbs' / 'exercises' / '03_progressive_resizing.ipynb'], tmp_path / 'rel')
    nb = nbformat.read(tmp_path / 'rel' / 'student' / '03_progressive_resizing.ipynb', as_version=4)
    for c in nb.cells:  # answer q3 correctly, q4 wrongly
        if c.source.startswith('#| exercise: q3'):
            c.source = (
                c.source.split('\n')[0]
                + '\ndef relative_cost(schedule, full_size):\n    return sum(s * s for s in schedule) / (len(schedule) * full_size ** 2)\n'
            )
        if c.source.startswith('#| exercise: q4'):
            c.source = c.source.split('\n')[0] + '\ndef time_to_accuracy(history, target):\n    return 99.0\n'
    NotebookClient(nb, timeout=300, allow_errors=True, resources={'metadata': {'path': str(tmp_path)}}).execute()
    outs = {}
    for c in nb.cells:
        m = re.match(r'# tests: (\w+)', c.source)
        if m:
            assert not [o for o in c.outputs if o.output_type == 'error'], c.outputs
            outs[m.group(1)] = ''.join(o.get('text', '') for o in c.outputs)
    assert 'Traceback' not in ''.join(outs.values())
    assert (
        outs['q3'].startswith('✅ q3: all 2 visible tests passed') and '1 hidden test will run at grading' in outs['q3']
    )
    assert '❌ q4: 0 of 2 visible tests passed' in outs['q4'] and 'got 99.0, expected 25.0' in outs['q4']
    assert outs['q1'].startswith('⏳ q1: not answered yet (NotImplementedError: q1: np.linspace')
