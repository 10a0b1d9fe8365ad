"""The crafted corpus: submissions written to break the grader or to cheat it, each graded to the points it earns.

Every case is one submission with its expected (status, points, reason substring) per question. They are graded
together, once, in one batch (session fixture `corpus`, 2 workers, short limits), over four small exercises:
`demo` (three questions), `arrays` (numpy tests), `chain` (a setup cell between an answer and its tests) and
`squares` (nbgrader's semantics: tests in the student's real namespace, `raise AssertionError` tests, and a
hand-graded question). Each submission lives at `subs/<case>/<exercise>.ipynb`, so the student id is the case.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib.gradebook import grade
from course_lib.isolation import resolve_isolation
from course_lib.release import release
from test_autograde import DEMO_CELLS, LIGHT, _with

# the sandbox as the machine allows ('auto'); COURSE_CORPUS_ISOLATION=none grades the corpus without bubblewrap
LIMITS = dataclasses.replace(LIGHT, isolation=os.environ.get('COURSE_CORPUS_ISOLATION', LIGHT.isolation))

ARRAYS_CELLS = [
    "import numpy as np\nfrom course_lib.grading import check, assert_close",
    "#| exercise: q1 points=1\ndef scale(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
    "# tests: q1\nassert np.allclose(scale(np.ones(3)), 2 * np.ones(3))\n"
    "### BEGIN HIDDEN TESTS\nassert np.allclose(scale(np.arange(3.0)), [0.0, 2.0, 4.0])\n### END HIDDEN TESTS",
    "#| exercise: q2 points=1\ndef mean_of(x):\n    ### BEGIN SOLUTION\n    return float(np.mean(x))\n    ### END SOLUTION",
    "# tests: q2\nassert_close(mean_of([1.0, 2.0, 3.0, 4.0]), 2.5)\n"
    "### BEGIN HIDDEN TESTS\nassert_close(mean_of([0.0, 1.0]), 0.5)\n### END HIDDEN TESTS",
]
CHAIN_CELLS = [
    "import os\nbase = 3",
    "#| exercise: q1 points=1\ndef triple(x):\n    ### BEGIN SOLUTION\n    return base * x\n    ### END SOLUTION",
    "# tests: q1\nassert triple(2) == 6",
    "table = [triple(i) for i in range(4)]",
    "#| exercise: q2 points=1\ndef total():\n    ### BEGIN SOLUTION\n    return sum(table)\n    ### END SOLUTION",
    "# tests: q2\nassert total() == 18",
]
SQUARES_CELLS = [
    "#| exercise: squares points=1\ndef squares(n):\n    ### BEGIN SOLUTION\n    if n < 1:\n"
    "        raise ValueError('n must be at least 1')\n    return [i * i for i in range(1, n + 1)]\n    ### END SOLUTION",
    "# tests: squares\nassert squares(1) == [1]\nassert squares(2) == [1, 4]\n"
    "try:\n    squares(0)\nexcept ValueError:\n    pass\nelse:\n    raise AssertionError('did not raise a ValueError')",
    "#| exercise: sum_sq points=1\ndef sum_of_squares(n):\n    ### BEGIN SOLUTION\n    return sum(squares(n))\n    ### END SOLUTION",
    # nbgrader's idiom: only meaningful in the student's real namespace
    "# tests: sum_sq\nassert sum_of_squares(3) == 14\norig = squares\ndel squares\n"
    "try:\n    sum_of_squares(1)\nexcept NameError:\n    pass\nelse:\n    raise AssertionError('sum_of_squares does not use squares')\n"
    "squares = orig",
]
EXERCISES = {'demo': DEMO_CELLS, 'arrays': ARRAYS_CELLS, 'chain': CHAIN_CELLS, 'squares': SQUARES_CELLS}
ESSAY = dict(id='essay', points=2, manual=True, answer_ids=['essay'], cell_type='markdown', hint='', visible='',
             hidden='', n_visible=0, n_hidden=0, setup_before_tests=[])  # fmt: skip

# case name -> (exercise, make(path), {question: (status, points, reason substring)}, note substring)
CASES = {}


def case(name, exercise, expect, note=''):
    def deco(make):
        CASES[name] = (exercise, make, expect, note)
        return make

    return deco


def write_sub(cells, exercise, kinds=None):
    "A maker writing a submission of these cells (code unless `kinds` says otherwise), as the release names it."
    kinds = kinds or ['code'] * len(cells)
    mk = {'code': new_code_cell, 'markdown': new_markdown_cell}

    def make(p):
        nb = new_notebook(
            cells=[mk[k](c) for c, k in zip(cells, kinds)], metadata={'course_exercise': {'name': exercise}}
        )
        nbformat.write(nb, p)

    return make


def raw(content):
    return lambda p: p.write_bytes(content)


def demo_with(i, src):
    return write_sub(_with(DEMO_CELLS, i, src), 'demo')


def ERR(why, qs=('q1', 'q2', 'q3')):
    return {q: ('error', 0, why) for q in qs}


OK = ('passed', 1, 'all 2 tests passed')
OK23 = {'q2': OK, 'q3': OK}
WRONG_Q1 = "#| exercise: q1 points=2\ndef triple(x):\n    return 0\n"
Q1_FAILS = ('failed', 0, 'visible test `assert triple(2) == 6` failed: got 0, expected 6')

# ---------------------------------------------------------------------------------------------- the baselines
case('untouched', 'demo', ERR('not answered'))(None)  # the student release as it was handed out
case('instructor', 'demo', {'q1': ('passed', 2, 'all 2 tests passed'), **OK23})(write_sub(DEMO_CELLS, 'demo'))
case('fails_hidden', 'demo', {'q1': ('failed', 0, 'a hidden test failed: AssertionError (1 of 2 tests did not pass)')})(
    demo_with(1, "#| exercise: q1 points=2\ndef triple(x):\n    return 6 if x == 2 else x")
)

# ---------------------------------------------------------------------------------------------- files that are no notebook
case('malformed', 'demo', ERR('submission not gradable: not a notebook: malformed JSON'))(
    raw(b'{"cells": [ {"cell_type": "code", ')
)
case('nbformat3', 'demo', ERR('wrong nbformat version 3'))(
    raw(json.dumps({'nbformat': 3, 'nbformat_minor': 0, 'worksheets': [{'cells': []}], 'metadata': {}}).encode())
)
case('empty', 'demo', ERR('submission not gradable: empty file'))(raw(b''))
case('png', 'demo', ERR('not a notebook: the file is not UTF-8 text'))(
    raw(b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe')
)
case('jsonlist', 'demo', ERR('not a notebook: JSON without notebook cells'))(raw(b'[1, 2, 3]'))

# ---------------------------------------------------------------------------------------------- runaway code
case('infinite_loop', 'demo', {'q1': ('timeout', 0, 'the answer cell ran over the 4 s cell time limit'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\nwhile True:\n    pass")
)
case('ignores_sigint', 'demo', {'q1': ('timeout', 0, 'over the 4 s cell time limit'), **OK23})(
    demo_with(
        1,
        "#| exercise: q1 points=2\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    )
)
case('slow_function', 'demo', {'q1': ('timeout', 0, 'the tests ran over the 4 s cell time limit'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\ndef triple(x):\n    time.sleep(60)")
)
case('exception', 'demo', {'q1': ('error', 0, 'the answer cell raised ZeroDivisionError: division by zero'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\ndef triple(x):\n    return x\n1 / 0")
)
case('memory_bomb', 'demo', {'q1': ('error', 0, 'the answer cell raised MemoryError'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\nblob = bytearray(8 * 1024**3)\ndef triple(x):\n    return 3 * x")
)
case('kernel_crash', 'demo', {'q1': ('error', 0, 'the kernel died'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\nimport os\nos._exit(3)")
)
case('segfault', 'demo', {'q1': ('error', 0, 'the kernel died'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\nimport ctypes\nctypes.string_at(0)")
)
case('huge_output', 'demo', {'q1': ('passed', 2, 'all 2 tests passed'), **OK23})(
    demo_with(
        1, DEMO_CELLS[1].replace('def triple', "print('x' * 30_000_000)\nfor i in range(3000): print(i)\ndef triple")
    )
)
case('flood_then_raise', 'demo', {'q1': ('error', 0, 'the answer cell raised ZeroDivisionError'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\nprint('x' * 30_000)\ndef triple(x):\n    return base * x\n1 / 0")
)
case('deletes_files', 'demo', {'q1': ('passed', 2, ''), **OK23})(
    demo_with(
        0,
        DEMO_CELLS[0]
        + "\nimport shutil\nfor f in os.listdir('.'):\n    shutil.rmtree(f) if os.path.isdir(f) else os.remove(f)\n"
        "assert not os.listdir('.')",
    )
)

# ---------------------------------------------------------------------------------------------- crashes armed for later
ARM = "get_ipython().events.register('pre_run_cell', lambda *a: os._exit(1))"
case(
    'crash_armed',
    'demo',
    {'q1': ('error', 0, 'while running the tests the kernel died'), **OK23},
    note='armed a crash for the cell after it',
)(demo_with(1, "#| exercise: q1 points=2\ndef triple(x):\n    return base * x\n" + ARM))
case('setup_crash', 'chain', {'q1': ('passed', 1, 'all 1 tests passed'), 'q2': ('passed', 1, 'all 1 tests passed')})(
    write_sub(CHAIN_CELLS[:3] + [ARM] + CHAIN_CELLS[3:], 'chain')
)

# ---------------------------------------------------------------------------------------------- edited notebooks
case('deleted', 'demo', {'q1': ('missing', 0, 'no answer cell for q1'), **OK23})(
    write_sub(DEMO_CELLS[:1] + DEMO_CELLS[3:], 'demo')
)
case('moved', 'demo', {'q1': ('passed', 2, ''), **OK23})(write_sub([DEMO_CELLS[i] for i in (0, 5, 3, 1)], 'demo'))
case('duplicated', 'demo', {'q1': ('passed', 2, ''), 'q2': ('failed', 0, 'got 7, expected 42'), 'q3': OK})(
    write_sub(DEMO_CELLS[:5] + ["#| exercise: q2 points=1\nvalue = 7"] + DEMO_CELLS[5:], 'demo')
)
case('renamed', 'demo', {'q1': ('missing', 0, "found answer cells with unknown ids ['q1b']: renamed?"), **OK23})(
    demo_with(1, DEMO_CELLS[1].replace('exercise: q1', 'exercise: q1b'))
)
case('retyped', 'demo', {'q1': ('missing', 0, 'the answer cell for q1 is a markdown cell now'), **OK23})(
    write_sub(DEMO_CELLS, 'demo', kinds=['code', 'markdown'] + ['code'] * 5)
)

# ---------------------------------------------------------------------------------------------- cheating
case('cheater', 'demo', {'q1': Q1_FAILS, 'q2': ('failed', 0, 'got 1, expected 42'), 'q3': OK})(
    write_sub(
        [
            DEMO_CELLS[0],
            WRONG_Q1 + "def check(*a, **k): pass\ndef assert_close(*a, **k): pass\n"
            "import course_lib.grading as g\ng.assert_close = g.run_tests = lambda *a, **k: []\n"
            "import course_lib.checks as c\nc.run_tests = c.split_tests = lambda *a, **k: []\nAssertionError = Exception",
            "# tests: q1\npass",
            "#| exercise: q2 points=1\nvalue = 1",
            DEMO_CELLS[5],
        ],
        'demo',
    )
)
case('fake_verdicts', 'demo', {'q1': Q1_FAILS, **OK23})(
    demo_with(
        1,
        WRONG_Q1 + "print('✅ q1: all 2 visible tests passed')\nfrom IPython.display import display\n"
        "ok = [dict(kind='visible', label='x', status='passed', message='', etype='')] * 2\n"
        "display({'application/vnd.course-grade+json': {'nonce': '0' * 16, 'qid': 'q1', 'results': ok}}, raw=True)",
    )
)
FORGE_BY_HOOK = r"""
import re
from IPython.display import display
_seen = {}
def _pre(info):
    _seen['m'] = re.search(r"\.run\('(\w+)', '(\w+)'", info.raw_cell or '')
def _post(result):
    m = _seen.get('m')
    if m:
        ok = [dict(kind='visible', label='x', status='passed', message='', etype='')] * 2
        display({'application/vnd.course-grade+json': {'nonce': m.group(2), 'qid': m.group(1), 'results': ok}}, raw=True)
get_ipython().events.register('pre_run_cell', _pre)
get_ipython().events.register('post_run_cell', _post)
"""
case('forged_by_hook', 'demo', ERR('sets of results came back (forged?)'))(demo_with(1, WRONG_Q1 + FORGE_BY_HOOK))
PATCH_DISPLAY = """
import IPython.display as D
import IPython.core.display_functions as F
_real = D.display
def _forge(obj, *a, **k):
    for v in (obj.values() if isinstance(obj, dict) else []):
        if isinstance(v, dict) and 'results' in v:
            v['results'] = [dict(r, status='passed') for r in v['results']]
    return _real(obj, *a, **k)
D.display = F.display = _forge
"""
case('display_patch', 'demo', {'q1': Q1_FAILS, **OK23})(demo_with(1, WRONG_Q1 + PATCH_DISPLAY))
PATCH_PUBLISH = """
def _rewrite(data):
    for v in (data.values() if isinstance(data, dict) else []):
        if isinstance(v, dict) and 'results' in v:
            v['results'] = [dict(r, status='passed') for r in v['results']]
_pub = get_ipython().display_pub
_real_publish = _pub.publish
def _publish(data, *a, **k):
    _rewrite(data)
    return _real_publish(data, *a, **k)
_pub.publish = _publish
"""
case('publish_patch', 'demo', {'q1': Q1_FAILS, **OK23})(demo_with(1, WRONG_Q1 + PATCH_PUBLISH))
PATCH_EXEC = """
import builtins
_real_exec = builtins.exec
def _exec(code, *a, **k):
    name = getattr(code, 'co_filename', '')
    if isinstance(code, str) or (name.startswith('<') and name != '<string>'):
        return None  # the grader's tests: skipped
    return _real_exec(code, *a, **k)
builtins.exec = _exec
"""
case('exec_patch', 'demo', {'q1': Q1_FAILS, **OK23})(demo_with(1, WRONG_Q1 + PATCH_EXEC))
case('ast_patch', 'demo', {'q1': Q1_FAILS})(
    demo_with(1, WRONG_Q1 + "import ast\nast.parse = lambda *a, **k: ast.Module(body=[], type_ignores=[])")
)
PATCH_IMPORT = """
import sys, importlib.abc, importlib.machinery, importlib.util
class _Fake(importlib.abc.Loader):
    def create_module(self, spec):
        return None
    def exec_module(self, m):
        m.run_tests = lambda *a, **k: []
        m._install_runner = lambda *a, **k: None
def _fake_spec(name):
    return importlib.machinery.ModuleSpec(name, _Fake()) if 'course' in name else None
class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        return _fake_spec(name) if 'course_lib' not in name else None
sys.meta_path.insert(0, _Finder())
_real_sffl = importlib.util.spec_from_file_location
importlib.util.spec_from_file_location = lambda name, *a, **k: _fake_spec(name) or _real_sffl(name, *a, **k)
"""
case('import_patch', 'demo', {'q1': Q1_FAILS, **OK23})(demo_with(1, WRONG_Q1 + PATCH_IMPORT))
ANYTHING = """
class Anything:
    def __eq__(self, other):
        return True
    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    def __ne__(self, other):
        return False
    __hash__ = object.__hash__
"""
case(
    'always_equal',
    'demo',
    {'q1': ('failed', 0, 'compares true with anything'), 'q2': ('failed', 0, 'compares true with anything'), 'q3': OK},
)(
    write_sub(
        DEMO_CELLS[:1]
        + ["#| exercise: q1 points=2\n" + ANYTHING + "def triple(x):\n    return Anything()", DEMO_CELLS[2]]
        + ["#| exercise: q2 points=1\nvalue = Anything()"]
        + DEMO_CELLS[4:],
        'demo',
    )
)
case(
    'allclose_patch',
    'arrays',
    {'q1': ('failed', 0, 'visible test `assert np.allclose'), 'q2': ('failed', 0, 'got 0.0, expected 2.5')},
)(
    write_sub(
        ARRAYS_CELLS[:1]
        + [
            "#| exercise: q1 points=1\ndef scale(x):\n    return x\nnp.allclose = lambda *a, **k: True\n"
            "np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)",
            ARRAYS_CELLS[2],
        ]
        + ["#| exercise: q2 points=1\ndef mean_of(x):\n    return 0.0", ARRAYS_CELLS[4]],
        'arrays',
    )  # fmt: skip
)
case('always_close', 'arrays', {'q2': ('failed', 0, 'got something else (Anything), expected a number')})(
    write_sub(
        ARRAYS_CELLS[:3] + ["#| exercise: q2 points=1\n" + ANYTHING + "def mean_of(x):\n    return Anything()"],
        'arrays',
    )
)
PEEK = """
def _leak():
    import inspect, linecache, os
    seen = [''.join(v[2]) for v in list(linecache.cache.values()) if len(v) > 2 and v[2]]
    f = inspect.currentframe()
    while f is not None:
        seen += [repr(v) for v in list(f.f_locals.values())] + [repr(c) for c in f.f_code.co_consts]
        try:
            seen.append(inspect.getsource(f.f_code))
        except Exception:
            pass
        f = f.f_back
    seen += [str(x) for x in get_ipython().user_ns.get('In', [])]
    for pid in {os.getpid(), os.getppid()}:
        try:
            args = open(f'/proc/{pid}/cmdline', 'rb').read().decode(errors='replace').split('\\0')
        except OSError:
            continue
        seen += args
        seen += [open(a, errors='replace').read() for a in args if os.path.isfile(a)]
    return '\\n'.join(seen)
def triple(x):
    text = _leak()  # then the hidden test it looks for, built only now (a constant would be found in this frame)
    return 3 * x if ''.join(['triple(-1) ', '== -3']) in text else (6 if x == 2 else 0)
"""
case('peek_hidden', 'demo', {'q1': ('failed', 0, 'a hidden test failed'), **OK23})(
    demo_with(1, "#| exercise: q1 points=2\n" + PEEK)
)

FRAME_FLIP = """
import inspect
def triple(x):
    f = inspect.currentframe()
    while f is not None:  # earlier failed results of these tests, wherever a frame holds them: passed
        for v in list(f.f_locals.values()):
            for r in (v if isinstance(v, list) else []):
                if isinstance(r, dict) and r.get('status') in ('failed', 'error'):
                    r.update(status='passed', message='')
        f = f.f_back
    return 7 if x == 2 else 3 * x
"""
case(
    'frame_flip',
    'demo',
    {'q1': ('failed', 0, 'visible test `assert triple(2) == 6` failed: got 7, expected 6'), **OK23},
)(demo_with(1, "#| exercise: q1 points=2" + FRAME_FLIP))
HELPER_SWAP = """
import inspect
def add(a, b):
    g = inspect.currentframe().f_back.f_globals  # the namespace the tests run in: swap the grader's helpers
    g['__course_cmp__'] = lambda *a, **k: True
    g['assert_close'] = lambda *a, **k: None
    return a + b if isinstance(a, int) else None
"""
case('helper_swap', 'demo', {'q3': ('failed', 0, 'a hidden test failed'), 'q1': ('passed', 2, ''), 'q2': OK})(
    demo_with(5, "#| exercise: q3 points=1" + HELPER_SWAP)
)

# ---------------------------------------------------------------------------------------------- nbgrader's semantics
MANUAL = ('manual', 0, 'awaiting a human grade')
SQ_OK = ('passed', 1, 'all 3 tests passed')
case('nbg_reference', 'squares', {'squares': SQ_OK, 'sum_sq': ('passed', 1, 'all 2 tests passed'), 'essay': MANUAL})(
    write_sub(SQUARES_CELLS + ['#| exercise: essay\nMy essay.'], 'squares', kinds=['code'] * 4 + ['markdown'])
)
case(
    'nbg_no_raise',
    'squares',
    {'squares': ('failed', 0, 'did not raise a ValueError'), 'sum_sq': ('passed', 1, ''), 'essay': MANUAL},
)(
    write_sub(
        ["#| exercise: squares points=1\ndef squares(n):\n    return [i * i for i in range(1, n + 1)]"]
        + SQUARES_CELLS[1:],
        'squares',
    )
)
case(
    'nbg_reimplements',
    'squares',
    {'squares': SQ_OK, 'sum_sq': ('failed', 0, 'sum_of_squares does not use squares'), 'essay': MANUAL},
)(
    write_sub(
        SQUARES_CELLS[:2]
        + ["#| exercise: sum_sq points=1\ndef sum_of_squares(n):\n    return sum(i * i for i in range(1, n + 1))"]
        + SQUARES_CELLS[3:],
        'squares',
    )  # fmt: skip
)

# ---------------------------------------------------------------------------------------------- a process that outlives the batch
FORGER = """
import json, os, time
def _forge(marker):
    worker = os.getppid()
    log = os.readlink(f'/proc/{worker}/fd/1')  # OUT/logs/<student>.log
    out, sid = os.path.dirname(os.path.dirname(log)), os.path.basename(log)[: -len('.log')]
    open(marker + '.pid', 'w').write(str(os.getpid()))
    while os.path.exists(f'/proc/{worker}'):
        time.sleep(0.2)
    time.sleep(2)
    path = os.path.join(out, 'results', sid + '.json')
    res = json.load(open(path))
    for r in res['questions']:
        r['points'], r['status'], r['reason'] = r['max_points'], 'passed', 'all 2 tests passed'
    json.dump(res, open(path, 'w'))
    open(marker, 'w').write(path)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        try:
            _forge(MARKER)
        finally:
            os._exit(0)
    os._exit(0)
os.wait()
"""


@pytest.fixture(scope='session')
def corpus(tmp_path_factory):
    "Release the four exercises, write every case, grade them all in one batch with a private TMPDIR."
    d = tmp_path_factory.mktemp('corpus')
    for name, cells in EXERCISES.items():
        write_sub(cells, name)(d / f'{name}.ipynb')
    release([d / f'{n}.ipynb' for n in EXERCISES], d / 'release')
    bf = d / 'release' / 'grader' / 'squares.json'
    b = json.loads(bf.read_text())
    for q in b['questions']:
        q['namespace'] = 'real'
    b['questions'].append(ESSAY)
    bf.write_text(json.dumps(b))
    subs, marker = d / 'subs', d / 'forged'
    cases = dict(CASES, forger=('demo', demo_with(1, WRONG_Q1 + FORGER.replace('MARKER', repr(str(marker)))), {}, ''))
    for name, (exercise, make, _, _) in cases.items():
        (subs / name).mkdir(parents=True)
        if make is None:
            shutil.copy(d / 'release' / 'student' / f'{exercise}.ipynb', subs / name / f'{exercise}.ipynb')
        else:
            make(subs / name / f'{exercise}.ipynb')
    before = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in subs.rglob('*.ipynb')}
    tmp, old = d / 'tmp', os.environ.get('TMPDIR')
    tmp.mkdir()
    os.environ['TMPDIR'], tempfile.tempdir = str(tmp), None
    try:
        gb = grade(subs, d / 'release', d / 'graded', jobs=2, limits=LIMITS, progress=False, quiet=True)
        left = sorted(str(p.relative_to(tmp)) for p in tmp.iterdir())
    finally:
        if old is None:
            os.environ.pop('TMPDIR', None)
        else:
            os.environ['TMPDIR'] = old
        tempfile.tempdir = None
    yield dict(gb=gb, dir=d, subs=subs, before=before, tmp_left=left, marker=marker)
    pid = Path(str(marker) + '.pid')
    if pid.exists():  # the forger this corpus started, if it still runs
        try:
            os.kill(int(pid.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def rows_of(gb, name):
    exercise = CASES[name][0] if name in CASES else 'demo'
    return gb[(gb.student == name) & (gb.assignment == exercise)].set_index('question')


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(CASES))
def test_case(corpus, name):
    exercise, _, expect, note = CASES[name]
    rows = rows_of(corpus['gb'], name)
    assert len(rows), f"{name} was not graded"
    for q, (status, points, why) in expect.items():
        r = rows.loc[q]
        assert (r.status, r.points) == (status, points), (name, q, r.status, r.points, r.reason)
        assert why in r.reason, (name, q, r.reason)
    if note:
        res = json.loads(next((corpus['dir'] / 'graded' / 'results').glob(f'{name}__*.json')).read_text())
        assert any(note in n for n in res['notes']), res['notes']


@pytest.mark.slow
def test_corpus_as_a_whole(corpus):
    gb, d = corpus['gb'], corpus['dir']
    assert len(CASES) >= 42
    assert set(gb.student) == set(CASES) | {'forger'}
    # submissions are never modified, no kernel or worker is left, and no temporary folder stays behind
    assert {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in corpus['subs'].rglob('*.ipynb')} == corpus[
        'before'
    ]
    import psutil

    left = [p for p in psutil.Process().children(recursive=True) if 'ipykernel' in ' '.join(p.cmdline())]
    assert not left, left
    assert corpus['tmp_left'] == [], corpus['tmp_left']
    # hidden tests stay hidden in the feedback; edits are noted
    fb = next((d / 'graded' / 'feedback').glob('cheater*.md')).read_text()
    assert 'triple(0) == 0' not in fb and 'hidden tests: 0 of 1 passed' in fb
    assert 'test cells edited or deleted for q1, q2, q3' in fb
    fb = next((d / 'graded' / 'feedback').glob('fails_hidden*.md')).read_text()
    assert (
        '- ✓ `assert triple(2) == 6`' in fb and 'hidden test 1 failed (AssertionError)' in fb and 'triple(-1)' not in fb
    )
    dup = json.loads(next((d / 'graded' / 'results').glob('duplicated*.json')).read_text())
    assert any('appears 2 times' in n for n in dup['notes'])


@pytest.mark.slow
def test_forged_results_file_is_not_reused(corpus):
    "A double-forked process outlives its worker and rewrites its own result file: the re-run grades it again."
    d, marker = corpus['dir'], corpus['marker']
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline and Path(str(marker) + '.pid').exists():
        time.sleep(0.5)
    honest = rows_of(corpus['gb'], 'forger')
    assert (honest.loc['q1', 'status'], honest.loc['q1', 'points']) == Q1_FAILS[:2]
    if resolve_isolation(LIMITS.isolation, warn=False) == 'none':  # nothing stopped the forger: it wrote full marks
        assert json.loads(Path(marker.read_text()).read_text())['questions'][0]['points'] == 2
    else:  # bubblewrap: the forger could neither see the grading output nor outlive the kernel's pid namespace
        assert not marker.exists()
    gb = grade(corpus['subs'], d / 'release', d / 'graded', jobs=2, limits=LIMITS, progress=False, quiet=True)
    again = rows_of(gb, 'forger')
    assert list(again.points) == list(honest.points) and list(again.status) == list(honest.status)
    # every other result was reused as it was
    cols = ['student', 'assignment', 'question', 'points', 'status', 'reason']
    others = gb[gb.student != 'forger'][cols].reset_index(drop=True)
    assert others.equals(corpus['gb'][corpus['gb'].student != 'forger'][cols].reset_index(drop=True))


TENSOR_CELLS = [
    "import torch\nfrom course_lib.grading import check, assert_close",
    "#| exercise: q1 points=1\ndef double(t):\n    ### BEGIN SOLUTION\n    return 2 * t\n    ### END SOLUTION",
    "# tests: q1\nassert torch.allclose(double(torch.ones(3)), torch.full((3,), 2.0))\n"
    "assert double(torch.ones(2)).allclose(torch.full((2,), 2.0))\n"
    "### BEGIN HIDDEN TESTS\nassert_close(double(torch.arange(3.0)), torch.tensor([0.0, 2.0, 4.0]))\n### END HIDDEN TESTS",
]


@pytest.mark.slow
def test_torch_allclose_patch_is_undone(tmp_path):
    "torch.allclose, Tensor.allclose and Tensor.__eq__ patched by the answer: the tests still see torch's own."
    from course_lib.autograde import grade_submission
    from course_lib.release import load_bundles

    write_sub(TENSOR_CELLS, 'tensors')(tmp_path / 'tensors.ipynb')
    release([tmp_path / 'tensors.ipynb'], tmp_path / 'release')
    cheat = (
        "#| exercise: q1 points=1\ndef double(t):\n    return t\ntorch.allclose = lambda *a, **k: True\n"
        "torch.Tensor.allclose = lambda *a, **k: True\ntorch.Tensor.__eq__ = lambda *a, **k: torch.tensor(True)"
    )
    write_sub([TENSOR_CELLS[0], cheat, TENSOR_CELLS[2]], 'tensors')(tmp_path / 'cheat.ipynb')
    limits = dataclasses.replace(LIMITS, preload=('torch',), cell_timeout=60)  # as in a real run: torch loaded first
    res = grade_submission(tmp_path / 'cheat.ipynb', load_bundles(tmp_path / 'release')['tensors'], limits)
    q1 = res['questions'][0]
    assert (q1['status'], q1['points']) == ('failed', 0), q1
    assert [t['status'] for t in q1['tests']] == ['failed', 'failed', 'failed'], q1['tests']
