"""Exercise 4 (active learning): the instructor's answers pass every test, each known-wrong answer fails its
question's tests, and no hint gives the solution away.

The notebook's code cells run once, in order, in one namespace (real Imagewoof features at tiny scale, cached);
each wrong answer then replaces its question's solution region in a copy of that namespace, and the question's
test cells (visible and hidden) must raise AssertionError.
"""

import io
import re
import textwrap
import tokenize
from pathlib import Path

import nbformat
import pytest

from course_lib.exercise import read_exercise

REPO = Path(__file__).resolve().parents[1]
NB = REPO / 'nbs' / 'exercises' / '04_active_learning.ipynb'

# known-wrong answers a student would plausibly write: (question, replacement of its solution region, why wrong)
WRONG = [
    ('q1', 'return 1 - probs.max(1).values', 'least confidence, not margin'),
    (
        'q1',
        'top2 = probs.topk(2, dim=1).values\nreturn top2[:, 0] - top2[:, 1]',
        'the margin itself: confident rows score high',
    ),
    ('q1', 'return -(probs * probs.clamp_min(1e-12).log()).sum(1)', 'entropy'),
    ('q2', 'return int(np.flatnonzero(~labelled)[0])', 'the first unlabelled image'),
    (
        'q2',
        'x = torch.as_tensor(feats, dtype=torch.float32)\n'
        'd = torch.cdist(x, x[np.flatnonzero(labelled)]).min(1).values.numpy().astype(float)\n'
        'd[labelled] = -np.inf\nreturn int(d.argmax())',
        'Euclidean, not cosine distance',
    ),
    (
        'q2',
        'z = F.normalize(torch.as_tensor(feats, dtype=torch.float32), dim=1)\n'
        'd = (1 - z @ z[np.flatnonzero(labelled)].T).max(1).values.numpy().astype(float)\n'
        'd[labelled] = -np.inf\nreturn int(d.argmax())',
        'farthest from the FARTHEST labelled image',
    ),
    (
        'q3',
        'return np.bincount(loop.pool.y.numpy()[loop.labelled], minlength=loop.pool.n_classes)',
        'counts the start labels too',
    ),
    (
        'q3',
        'return np.bincount(loop.pool.y.numpy()[loop.queried[-1]], minlength=loop.pool.n_classes)',
        'only the last round',
    ),
    (
        'q4',
        'prediction = 0.3\nidx = np.flatnonzero(start.labelled)\n'
        'head = fit_head(pool.x[idx], pool.y[idx], pool.n_classes)\nmeasured = accuracy(head, pool.x[idx], pool.y[idx])\n'
        'se = float(np.sqrt(measured * (1 - measured) / len(idx)) + 1e-9)\nreading = "A"',
        'measured on the ten training images',
    ),
    (
        'q4',
        'prediction = 0.3\nidx = np.flatnonzero(start.labelled)\n'
        'head = fit_head(pool.x[idx], pool.y[idx], pool.n_classes)\nmeasured = accuracy(head, pool.x_valid, pool.y_valid)\n'
        'se = float(np.sqrt(measured * (1 - measured) / len(pool.y_valid)))\nreading = "A" if measured > 0.1 else "C"',
        'above chance without looking at the standard error',
    ),
    ('q5', "leaky = 'BD'", 'misses choosing on the test set'),
    ('q5', "leaky = 'ABCD'", 'calls the oracle a leak'),
    ('q5', "leaky = ['B', 'C', 'D', 'E']", 'calls the honest validation/test protocol a leak'),
    (
        'q6',
        "f = runs[runs['round'] == runs['round'].max()].pivot(index='seed', columns='strategy', values='accuracy')\n"
        'diff = float((f[a] - f[b]).mean())\n'
        'se = float(np.sqrt(f[a].var() / len(f) + f[b].var() / len(f)))\n'
        'return dict(diff=diff, se=se, beyond_2se=diff > 2 * se)',
        'unpaired standard error',
    ),
    (
        'q6',
        "t = runs.pivot_table(index='seed', columns='strategy', values='accuracy')\n"
        'd = t[a] - t[b]\ndiff, se = float(d.mean()), float(d.std() / np.sqrt(len(d)))\n'
        'return dict(diff=diff, se=se, beyond_2se=diff > 2 * se)',
        'averages over every round, not the last',
    ),
    (
        'q6',
        "f = runs[runs['round'] == runs['round'].max()].pivot(index='seed', columns='strategy', values='accuracy')\n"
        'd = f[a] - f[b]\ndiff, se = float(d.mean()), float(d.std() / np.sqrt(len(d)))\n'
        'return dict(diff=diff, se=se, beyond_2se=abs(diff) > 2 * se)',
        'two-sided: a behind by 2 SE counts as an advantage',
    ),
    (
        'q7',
        "prediction7 = 'k_center'\n\ndef distinct_breeds(strategy, seed):\n"
        '    lp = ActiveLoop(pool, strategy, n_start=1, batch=5, seed=seed)\n    lp.run(2)\n'
        '    return int(np.unique(pool.y.numpy()[lp.labelled]).size)\n\n'
        "coverage = {s: [distinct_breeds(s, k) for k in range(5)] for s in ('entropy', 'k_center')}\n"
        "more_breeds = 'same'",
        'counts the start labels (always every class)',
    ),
    (
        'q7',
        "prediction7 = 'k_center'\n\ndef distinct_breeds(strategy, seed):\n"
        '    lp = ActiveLoop(pool, strategy, n_start=1, batch=5, seed=seed)\n    lp.run(2)\n'
        '    return int(np.unique(pool.y.numpy()[np.concatenate(lp.queried)]).size)\n\n'
        "coverage = {s: [distinct_breeds(s, k) for k in range(5)] for s in ('entropy', 'k_center')}\n"
        "m_e, m_k = np.mean(coverage['entropy']), np.mean(coverage['k_center'])\n"
        "more_breeds = 'entropy' if m_e < m_k else 'k_center' if m_k < m_e else 'same'",
        'picks the LOWER mean coverage',
    ),
]


def _answer_cell(nb, qid):
    return next(c for c in nb.cells if c.cell_type == 'code' and re.match(rf'#\| exercise: {qid}\b', c.source))


def replace_solution(src, new_code):
    m = re.search(r'^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n?', src, re.S | re.M)
    return src[: m.start()] + textwrap.indent(new_code, m.group(1)) + '\n' + src[m.end() :]


@pytest.fixture(scope='module')
def run(mirror):
    "Every code cell of the instructor's notebook, in order, in one namespace (the reference must pass)."
    nb = nbformat.read(NB, as_version=4)
    mp = pytest.MonkeyPatch()
    mp.setenv('COURSE_SCALE', 'tiny')
    mp.setenv('COURSE_DATA_MIRROR', str(mirror))
    mp.setenv('MPLBACKEND', 'Agg')
    mp.chdir(NB.parent)
    ns = {'__name__': '__main__'}
    try:
        for i, c in enumerate(nb.cells):
            if c.cell_type == 'code':
                exec(compile(c.source, f'{NB.name}[{i}]', 'exec'), ns)
        yield nb, ns
    finally:
        mp.undo()


def _tests_of(nb, qid):
    return [c.source for c in nb.cells if c.cell_type == 'code' and re.match(rf'# tests: {qid}\b', c.source)]


@pytest.mark.slow
def test_reference_passes_and_is_fully_graded(run):
    nb, ns = run
    ex = read_exercise(NB)
    assert list(ex.questions) == [f'q{i}' for i in range(1, 8)]
    assert all(q.hidden.strip() and q.visible.strip() for q in ex.questions.values())
    for qid in ex.questions:  # rerun every question's tests once more on the finished namespace
        for src in _tests_of(nb, qid):
            exec(src, dict(ns))
    assert {q for q, _, _ in WRONG} == set(ex.questions), 'every question has at least one known-wrong answer'


@pytest.mark.slow
@pytest.mark.parametrize('qid, code, why', WRONG, ids=[f'{q}-{w[:30]}' for q, _, w in WRONG])
def test_known_wrong_answer_fails(run, qid, code, why):
    nb, ns = run
    ns = dict(ns)
    exec(replace_solution(_answer_cell(nb, qid).source, code), ns)
    with pytest.raises(AssertionError):
        for src in _tests_of(nb, qid):
            exec(src, ns)


def _tokens(code):
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(code).readline):
            if t.type in (tokenize.NAME, tokenize.OP, tokenize.NUMBER, tokenize.STRING):
                out.append(t.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        out = re.findall(r'\w+|[^\w\s]', code)
    return out


def test_hints_nudge_and_never_give_the_solution():
    "No run of 4 consecutive solution tokens (names, operators, numbers) appears in a hint."
    ex = read_exercise(NB)
    nb = nbformat.read(NB, as_version=4)
    for qid, q in ex.questions.items():
        assert q.hint and len(q.hint) > 20, qid
        src = _answer_cell(nb, qid).source
        sol = re.search(r'### BEGIN SOLUTION\n(.*?)### END SOLUTION', src, re.S).group(1)
        s, h = _tokens(textwrap.dedent(sol)), _tokens(q.hint)
        grams = {tuple(s[i : i + 4]) for i in range(len(s) - 3)}
        leaked = [g for g in (tuple(h[i : i + 4]) for i in range(len(h) - 3)) if g in grams]
        assert not leaked, (qid, leaked)
        assert not re.search(r'\w+\([^)]*\)|\[[^\]]*:[^\]]*\]|==|\.\w+\(', q.hint), (qid, 'code in the hint', q.hint)
