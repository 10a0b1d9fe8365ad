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
from course_lib.checks import check, run_tests, split_tests
from course_lib.release import release

REPO = Path(__file__).resolve().parents[1]


def test_checks_imports_only_the_standard_library():
    code = "import course_lib.checks, sys; assert 'numpy' not in sys.modules and 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_checks_imports_nothing_from_course_lib_but_assertions():
    "The grader loads fresh copies of assertions.py and checks.py into the student's kernel: they stand on their own."
    from course_lib import assertions

    src = Path(checks.__file__).read_text()
    found = re.findall(r'^\s*(?:from|import)\s+((?:\.|course_lib)\S*)', src, re.M)
    assert set(found) == {'.assertions'}, found
    assert not re.search(r'^\s*(from|import)\s+(\.|course_lib)', Path(assertions.__file__).read_text(), re.M)
    code = "import course_lib.assertions, sys; assert 'numpy' not in sys.modules and 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_run_tests_results_and_explanations():
    res = run_tests("y = x + 1\nassert y == 3\nassert x > 5\nassert_close(x, 2.5)\n", {'x': 2}, hidden="assert x == 2")
    assert [(r['kind'], r['label'], r['status']) for r in res] == [
        ('visible', 'assert y == 3', 'passed'),
        ('visible', 'assert x > 5', 'failed'),
        ('visible', 'assert_close(x, 2.5)', 'failed'),
        ('hidden', 'hidden test 1', 'passed'),  # a hidden test's source stays out of its result
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
    """Run the student release of exercise 3 as a learner would: q3 answered with the instructor's solution, q4 with
    its first known-wrong answer, the rest untouched, and `hint('q1')` asked once; check() prints verdicts, never a
    traceback, and the hint shows the second level."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    from course_lib.exercise import read_exercise
    from course_lib.hints import exercise_hints, strip_hint_lines
    from course_lib.instructor_only import known_wrong, with_answer

    src = REPO / 'nbs' / 'exercises' / '03_progressive_resizing.ipynb'
    ex = read_exercise(src)
    answers = {q: strip_hint_lines(ex.nb.cells[ex.questions[q].answer_cell].source) for q in ('q3', 'q4')}
    answers['q4'] = with_answer(answers['q4'], next(w.code for w in known_wrong(ex) if w.qid == 'q4'))
    release([src], tmp_path / 'rel')
    nb = nbformat.read(tmp_path / 'rel' / 'student' / '03_progressive_resizing.ipynb', as_version=4)
    for c in nb.cells:
        for q, a in answers.items():
            if c.source.startswith(f'#| exercise: {q}'):
                c.source = re.sub(r'^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n', '', a, flags=re.M)
    nb.cells.append(new_code_cell("hint('q1')"))
    NotebookClient(nb, timeout=300, allow_errors=True, resources={'metadata': {'path': str(tmp_path)}}).execute()
    outs = {}
    for c in nb.cells:
        m = re.match(r'# tests: (\w+)', c.source)
        if m:
            assert not [o for o in c.outputs if o.output_type == 'error'], c.outputs
            outs[m.group(1)] = ''.join(o.get('text', '') for o in c.outputs)
    assert 'Traceback' not in ''.join(outs.values())
    assert '✅ q3: all' in outs['q3'] and 'hidden test' in outs['q3'], outs['q3']
    assert re.search(r'(✅|❌) q4: .*visible tests passed', outs['q4']), outs['q4']  # its hidden tests catch it
    nudge, second = exercise_hints(ex)['q1'][:2]
    assert f'⏳ q1: not answered yet (NotImplementedError: q1: {nudge[:30]}' in outs['q1'], outs['q1']
    asked = ''.join(o.get('text', '') for o in nb.cells[-1].outputs)
    assert asked.startswith(f'q1, hint 2 of {len(exercise_hints(ex)["q1"])}: {second}'), asked


# ---------------------------------------------------------------------------------------------- issue 10: semantics
SQUARES_OK = (
    "def squares(n):\n    if n < 1:\n        raise ValueError('n < 1')\n    return [i * i for i in range(1, n + 1)]\n"
)
NBG_TESTS = (
    "assert squares(1) == [1]\n"
    "try:\n    squares(0)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('did not raise')"
)


def _student(src):
    ns = {}
    exec(src, ns)
    return ns


def test_split_tests_counts_raise_and_cells_without_tests():
    assert [t[0] for t in split_tests(NBG_TESTS)] == [True, True]
    assert [t[0] for t in split_tests("def helper(x):\n    assert x\nclass A:\n    pass\nhelper(1)")] == [
        False,
        False,
        True,
    ]
    assert [t[0] for t in split_tests("if x:\n    raise ValueError('no')")] == [True]
    # nbgrader allows a test cell without any assert: its last statement is its one test
    assert [t[0] for t in split_tests("x = f(1)\ny = f(2)")] == [False, True]
    assert split_tests('  \n') == []


def test_any_exception_escaping_a_test_fails_it():
    good, bad = _student(SQUARES_OK), {'squares': lambda n: [i * i for i in range(1, n + 1)]}
    assert [r['status'] for r in run_tests(NBG_TESTS, good)] == ['passed', 'passed']
    # `raise AssertionError` after the last assert: nbgrader gives 0, so do we
    res = run_tests(NBG_TESTS, bad)
    assert [(r['status'], r['message']) for r in res] == [('passed', ''), ('failed', 'did not raise')]
    # a statement that raises after the last test fails that test
    res = run_tests("assert squares(1) == [1]\nx = 1 / 0", good)
    assert res[0]['status'] == 'error' and res[0]['etype'] == 'ZeroDivisionError'
    assert res[0]['message'].startswith('after this test, preparing the tests raised ZeroDivisionError')
    # a cell of plain statements is one test; any exception fails it, SystemExit too
    assert [(r['status'], r['etype']) for r in run_tests("x = squares(2)\ny = x[5]", good)] == [('error', 'IndexError')]
    res = run_tests("f()", {'f': lambda: sys.exit(3)})
    assert (res[0]['status'], res[0]['etype']) == ('error', 'SystemExit')
    # a hidden statement's failure does not show its source
    res = run_tests("assert squares(1) == [1]", good, hidden="secret_value = squares(-1)\nassert secret_value")
    assert res[1]['label'] == 'hidden test 1' and 'secret_value' not in json.dumps(res)


def test_real_namespace_runs_nbgrader_idioms():
    "nbgrader runs tests in the student's namespace: `del squares`, then check that sum_of_squares needs it."
    idiom = (
        "assert sum_of_squares(3) == 14\n"
        "orig = squares\ndel squares\n"
        "try:\n    sum_of_squares(1)\nexcept NameError:\n    pass\nelse:\n    raise AssertionError('sum_of_squares does not use squares')\n"
        "squares = orig"
    )
    student = _student(SQUARES_OK + "def sum_of_squares(n):\n    return sum(squares(n))\n")
    student['assert_close'] = 'the student has their own'
    assert [r['status'] for r in run_tests(idiom, student, namespace='real')] == ['passed', 'passed']
    assert student['assert_close'] == 'the student has their own' and '__course_cmp__' not in student
    assert 'orig' in student  # the real namespace: what the tests define stays, as in nbgrader
    # in a copy, `del squares` cannot reach the function's globals: the reference solution would fail
    assert [r['status'] for r in run_tests(idiom, student)] == ['passed', 'failed']
    cheat = _student(SQUARES_OK + "def sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))\n")
    res = run_tests(idiom, cheat, namespace='real')
    assert [r['status'] for r in res] == ['passed', 'failed'] and 'does not use squares' in res[1]['message']


class Anything:
    "An answer that compares true with everything."

    def __eq__(self, other):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __contains__ = __eq__

    def __ne__(self, other):
        return False

    def __float__(self):
        return 6.0

    __hash__ = object.__hash__


def test_comparisons_cannot_be_faked():
    res = run_tests(
        "assert a == 6\nassert a < 3\nassert 5 in a\nassert_close(a, 6.0)\nassert 6 == a", {'a': Anything()}
    )
    assert [r['status'] for r in res] == ['failed'] * 5, res
    assert 'compares true with anything' in res[0]['message'] and 'got something else (Anything)' in res[3]['message']

    class Yes:
        def __eq__(self, other):
            return 'yes'

    res = run_tests("assert a == 6\nassert x == 3", {'a': Yes(), 'x': np.array([3, 3])})
    assert [r['status'] for r in res] == ['failed', 'failed'] and 'not True or False' in res[0]['message']
    # honest values pass: tensors and numpy scalars give one-element truth values
    import torch

    ok = "assert t.sum() == 6\nassert n.sum() == 6\nassert 'b' in s\nassert s != 'x'\nassert [1, 2] == [1, 2]\nassert t[0] < 2"
    res = run_tests(ok, {'t': torch.tensor([1.0, 2.0, 3.0]), 'n': np.arange(4), 's': 'abc'})
    assert [r['status'] for r in res] == ['passed'] * 6, res


def test_shield_puts_back_what_tests_rely_on():
    import builtins

    import torch

    shield = checks._Shield()
    real = (np.allclose, torch.allclose, torch.Tensor.allclose, builtins.abs, sys.modules['numpy'])

    def tracer(*a):
        return None

    old_trace = sys.gettrace()
    try:
        np.allclose = torch.allclose = torch.Tensor.allclose = lambda *a, **k: True
        builtins.abs = lambda x: 0
        sys.modules['numpy'] = types.SimpleNamespace(allclose=lambda *a, **k: True)
        sys.settrace(tracer)
        shield.enter()
        assert sys.gettrace() is None
        assert (np.allclose, torch.allclose, torch.Tensor.allclose, builtins.abs, sys.modules['numpy']) == real
        shield.enter()  # again, before the next statement: nothing changes
        shield.leave()
        assert sys.gettrace() is tracer and builtins.abs(-1) == 0 and np.allclose(0, 1)
        assert sys.modules['numpy'] is not real[4]
    finally:
        sys.settrace(old_trace)
        np.allclose, torch.allclose, torch.Tensor.allclose, builtins.abs, sys.modules['numpy'] = real
        del torch.Tensor.allclose  # it is inherited from the C base class, not an attribute of its own
    assert torch.Tensor.allclose is not None and 'allclose' not in vars(torch.Tensor)


def test_install_runner_compiles_every_test_before_the_student_runs(monkeypatch):
    import base64
    import linecache
    import zlib

    import IPython

    published = []
    shell = types.SimpleNamespace(
        display_pub=types.SimpleNamespace(publish=lambda data, metadata=None: published.append(data))
    )
    monkeypatch.setattr(IPython, 'get_ipython', lambda: shell)
    spec = {
        'q1': {'visible': 'assert f(2) == 4', 'hidden': "assert f(3) == 9, 'f is wrong'", 'namespace': 'copy'},
        'q2': {'visible': 'del f', 'hidden': '', 'namespace': 'real'},
    }
    blob = base64.b64encode(zlib.compress(json.dumps(spec).encode())).decode()
    linecache.cache['<cell-tok123>'] = (1, None, [f"_install_runner({blob!r}, 'tok123')\n"], '<cell-tok123>')
    checks._install_runner(blob, 'tok123', 'x-mime')
    assert '<cell-tok123>' not in linecache.cache  # the cell that carried the tests is forgotten
    run = sys.modules.pop('_course_grader_tok123').run
    ns = {'f': lambda x: x * x}
    run('q1', 'n1', ns)
    assert published[-1] == {
        'x-mime': {
            'nonce': 'n1',
            'qid': 'q1',
            'results': [
                checks._result('visible', 'assert f(2) == 4', 'passed'),
                checks._result('hidden', 'hidden test 1', 'passed'),
            ],
        }
    }
    ns['f'] = lambda x: 4
    run('q1', 'n2', ns)
    assert [r['status'] for r in published[-1]['x-mime']['results']] == ['passed', 'failed']
    run('q2', 'n3', ns)  # a 'real' question changes the student's namespace, as nbgrader's tests do
    assert 'f' not in ns and published[-1]['x-mime']['results'][0]['status'] == 'passed'


def test_tests_run_in_the_order_of_their_parts():
    "A hidden block between two visible tests runs between them (nbgrader's order); without parts: visible, then hidden."
    from course_lib.checks import _compile_tests, _ordered, _run_in

    later = 'x = tick()\nassert x == 3'
    parts = [('visible', 'assert tick() == 1'), ('hidden', 'assert tick() == 2'), ('visible', later)]

    def run(**kw):
        ns = {'n': 0}
        exec('def tick():\n    global n\n    n += 1\n    return n', ns)
        return [(r['kind'], r['status']) for r in _run_in(_compile_tests(**kw), ns, 'real')]

    ordered = run(src='', parts=parts)
    assert ordered == [('visible', 'passed'), ('hidden', 'passed'), ('visible', 'passed')]
    plain = run(src='assert tick() == 1\n' + later, hidden='assert tick() == 2')
    assert plain == [('visible', 'passed'), ('visible', 'failed'), ('hidden', 'failed')]
    # the same tests as the joined text of each kind: without a test, its last statement is one
    assert [t[:2] for t in _ordered([('visible', 'y = 1'), ('hidden', 'z = 2'), ('visible', 'w = 3')])] == [
        ('visible', False),
        ('hidden', True),
        ('visible', True),
    ]
