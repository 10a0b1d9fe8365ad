"""Tests of course_lib.release: the student notebook and the grader bundle (no kernel started)."""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib.exercise import ExerciseFormatError, _regions, _sha, _src, read_exercise
from course_lib.release import GRADER_VERSION, _bundle_sha, build_release, load_bundles, release

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted((REPO / 'nbs' / 'exercises').glob('[0-9][0-9]_*.ipynb'))

CELLS = [
    new_markdown_cell('# Homework\nAnswer both.'),
    new_code_cell('import math\nfrom course_lib.grading import check'),
    new_code_cell(
        '#| exercise: q1 points=2 hint="use math.sqrt"\ndef root(x):\n    y = x\n    ### BEGIN SOLUTION\n'
        '    return math.sqrt(y)\n    ### END SOLUTION'
    ),
    new_code_cell('import operator'),
    new_code_cell(
        "# tests: q1\nassert root(4) == 2\n### BEGIN HIDDEN TESTS\nassert root(9) == 3 and root(0) == 0\n"
        "assert root(1) == 1\n### END HIDDEN TESTS"
    ),
    new_code_cell("# tests: q1\nassert root(16) == 4"),
    new_code_cell('#| exercise: q2\n### BEGIN SOLUTION\nsecret_answer = 42\n### END SOLUTION'),
    new_code_cell("# tests: q2\nassert secret_answer > 0, '''positive'''"),
]


@pytest.fixture
def hw(tmp_path):
    p = tmp_path / 'hw.ipynb'
    nbformat.write(new_notebook(cells=CELLS), p)
    return p


def test_student_notebook(hw):
    nb, _ = build_release(read_exercise(hw))
    src = [c.source for c in nb.cells]
    assert [c.cell_type for c in nb.cells] == ['markdown', 'code', 'code', 'code', 'code', 'code', 'code']
    assert src[0] == CELLS[0].source and src[1] == CELLS[1].source and src[3] == 'import operator'
    # the solution region becomes a stub at its indentation, with the hint; the code around it stays
    assert src[2] == (
        '#| exercise: q1 points=2 hint="use math.sqrt"\ndef root(x):\n    y = x\n'
        "    # YOUR ANSWER HERE (replace the next line)\n    raise NotImplementedError('q1: use math.sqrt')\n"
    )
    # two test cells of q1 -> one check() cell with all visible tests, the number of hidden ones, no hidden code
    assert src[4] == (
        "# tests: q1\n# Run this cell to check your answer (visible tests below). The grader also runs 2 hidden tests.\n"
        "# Editing this cell changes nothing at grading: the grader runs its own copy.\n"
        "from course_lib.grading import check\n"
        "check('q1', r'''\nassert root(4) == 2\nassert root(16) == 4\n''', n_hidden=2)\n"
    )
    assert "raise NotImplementedError(\"q2: write your answer here, then run check('q2')\")" in src[5]
    # tests holding ''' are quoted another way, and still valid Python
    assert "check('q2', \"assert secret_answer > 0, '''positive'''\\n\", n_hidden=0)" in src[6]
    compile(src[6], 'q2', 'exec')
    # clean, deterministic cells; the visible tests in the metadata (for check('q1') before any test cell ran)
    assert [c['id'] for c in nb.cells] == [f'hw-{i:03d}' for i in range(7)]
    assert all(
        c.get('outputs', []) == [] and c.get('execution_count') is None for c in nb.cells if c.cell_type == 'code'
    )
    assert all(c.metadata == {} for c in nb.cells)
    meta = nb.metadata['course_exercise']
    assert meta == {
        'name': 'hw',
        'grader_version': GRADER_VERSION,
        'questions': {'q1': 2, 'q2': 1},
        'visible_tests': {
            'q1': 'assert root(4) == 2\nassert root(16) == 4',
            'q2': "assert secret_answer > 0, '''positive'''",
        },
        'n_hidden': {'q1': 2, 'q2': 0},
    }
    text = nbformat.writes(nb)
    for secret in ('math.sqrt(y)', 'root(9)', 'root(1) == 1', 'secret_answer = 42'):
        assert secret not in text, secret


def test_grader_bundle(hw):
    nb, bundle = build_release(read_exercise(hw))
    assert {k: bundle[k] for k in ('format', 'grader_version', 'name', 'source', 'source_format')} == {
        'format': 'course-grader-bundle',
        'grader_version': GRADER_VERSION,
        'name': 'hw',
        'source': 'hw.ipynb',
        'source_format': 'markers',
    }
    q1, q2 = bundle['questions']
    assert (q1['id'], q1['points'], q1['answer_ids'], q1['hint']) == ('q1', 2, ['q1'], 'use math.sqrt')
    assert q1['visible'] == 'assert root(4) == 2\nassert root(16) == 4'
    assert q1['hidden'] == 'assert root(9) == 3 and root(0) == 0\nassert root(1) == 1\n'
    assert (q1['n_visible'], q1['n_hidden'], q2['n_visible'], q2['n_hidden']) == (2, 2, 1, 0)
    # the setup cell between q1's answer and its tests runs before the grader's tests
    assert q1['setup_before_tests'] == [_sha('import operator')] and q2['setup_before_tests'] == []
    # locked cells: the student's check() cells and the setup cells, by checksum
    assert bundle['locked']['tests'] == {'q1': _sha(nb.cells[4].source), 'q2': _sha(nb.cells[6].source)}
    assert bundle['locked']['setup'] == [_sha(CELLS[1].source), _sha('import operator')]
    json.dumps(bundle)


def test_release_writes_both_files_and_refuses_duplicates(hw, tmp_path):
    written = release([hw], tmp_path / 'rel')
    s, b = written['hw']
    assert s == tmp_path / 'rel' / 'student' / 'hw.ipynb' and b == tmp_path / 'rel' / 'grader' / 'hw.json'
    bundle = json.loads(b.read_text())
    assert bundle['student_sha256'] == _sha(s.read_bytes())
    assert (
        load_bundles(tmp_path / 'rel') == {'hw': bundle} == load_bundles(b) == load_bundles(tmp_path / 'rel' / 'grader')
    )
    assert _bundle_sha(bundle) == _bundle_sha(json.loads(b.read_text()))
    other = tmp_path / 'other'
    other.mkdir()
    nbformat.write(new_notebook(cells=CELLS), other / 'hw.ipynb')
    with pytest.raises(ExerciseFormatError, match=r"two exercise notebooks share the name \['hw'\]"):
        release([hw, other / 'hw.ipynb'], tmp_path / 'rel2')
    assert not (tmp_path / 'rel2').exists()


def _nbg(cell, **md):
    cell.metadata['nbgrader'] = {'schema_version': 3, 'locked': False, **md}
    return cell


def test_nbgrader_release_keeps_nbgrader_metadata(tmp_path):
    cells = [
        _nbg(new_code_cell('### BEGIN SOLUTION\nx = 1\n### END SOLUTION'), grade=False, solution=True, grade_id='ans'),
        _nbg(new_code_cell('assert x == 1'), grade=True, solution=False, grade_id='test_x', points=3),
    ]
    nbformat.write(new_notebook(cells=cells), tmp_path / 'nbg.ipynb')
    nb, bundle = build_release(read_exercise(tmp_path / 'nbg.ipynb'))
    assert nb.cells[0].metadata == {'nbgrader': cells[0].metadata['nbgrader'], 'deletable': False}
    assert nb.cells[1].metadata['nbgrader']['points'] == 3
    assert bundle['source_format'] == 'nbgrader' and bundle['questions'][0]['answer_ids'] == ['ans']


def test_nbgrader_release_is_nbgrader_s(tmp_path):
    "Stubs, test cells minus hidden tests, lock flags: as nbgrader's own release writes them."
    cells = [
        _nbg(
            new_markdown_cell('![](fig.png) and [data](data/x.csv)'),
            locked=True,
            grade=False,
            solution=False,
            grade_id='intro',
        ),
        new_code_cell("import json\nrows = open('data/x.csv').read()"),
        _nbg(
            new_code_cell(
                'def f(x):\n    """Double."""\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION'
            ),
            solution=True,
            grade=False,
            grade_id='f',
        ),
        _nbg(new_code_cell('def g(x):\n    return f(x) + 1'), solution=True, grade=False, grade_id='g'),  # unmarked
        _nbg(
            new_code_cell(
                'assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(0) == 0\n### END HIDDEN TESTS\nassert g(0) == 1'
            ),
            grade=True,
            solution=False,
            grade_id='test_fg',
            points=2,
        ),
        _nbg(
            new_markdown_cell('### BEGIN SOLUTION\nIt doubles.\n### END SOLUTION'),
            solution=True,
            grade=True,
            grade_id='why',
            points=1,
        ),
        _nbg(new_code_cell('plot()'), solution=True, grade=True, grade_id='by_hand', points=1),
        _nbg(
            new_markdown_cell('Explain in a cell below.'),
            task=True,
            locked=True,
            grade=False,
            solution=False,
            grade_id='t',
            points=3,
        ),
    ]
    (tmp_path / 'src' / 'data').mkdir(parents=True)
    (tmp_path / 'src' / 'fig.png').write_bytes(b'png')
    (tmp_path / 'src' / 'data' / 'x.csv').write_text('a,b\n')
    (tmp_path / 'src' / 'unrelated.txt').write_text('not named by the notebook')
    nbformat.write(new_notebook(cells=cells), tmp_path / 'src' / 'hw1.ipynb')
    files = release([tmp_path / 'src' / 'hw1.ipynb'], tmp_path / 'rel')
    nb = nbformat.read(files['hw1'][0], as_version=4)
    assert [c.source for c in nb.cells] == [
        cells[0].source,
        cells[1].source,
        'def f(x):\n    """Double."""\n    # YOUR CODE HERE\n    raise NotImplementedError()',
        '# YOUR CODE HERE\nraise NotImplementedError()',  # a solution cell without a region: stubbed whole
        'assert f(1) == 2\nassert g(0) == 1',
        'YOUR ANSWER HERE',
        '# YOUR CODE HERE\nraise NotImplementedError()',
        cells[7].source,
    ]
    flags = [(c.metadata.get('editable', True), c.metadata.get('deletable', True)) for c in nb.cells]
    assert flags == [
        (False, False),
        (True, True),
        (True, False),
        (True, False),
        (False, False),
        (True, False),
        (True, False),
        (False, False),
    ]
    assert [c.cell_type for c in nb.cells] == [c.cell_type for c in cells]
    # the files the notebook names are copied beside it; others are not
    assert (tmp_path / 'rel' / 'student' / 'fig.png').read_bytes() == b'png'
    assert (tmp_path / 'rel' / 'student' / 'data' / 'x.csv').read_text() == 'a,b\n'
    assert not (tmp_path / 'rel' / 'student' / 'unrelated.txt').exists()
    b = json.loads(files['hw1'][1].read_text())
    assert b['grader_version'] == GRADER_VERSION == '2'
    qs = {q['id']: q for q in b['questions']}
    assert list(qs) == ['test_fg', 'why', 'by_hand', 't']
    assert {q['namespace'] for q in qs.values()} == {'real'}
    assert qs['test_fg']['visible'] == nb.cells[4].source and qs['test_fg']['hidden'] == 'assert f(0) == 0\n'
    assert qs['test_fg']['answer_ids'] == ['f', 'g'] and 'manual' not in qs['test_fg']
    assert [(q['manual'], q['cell_type'], q['answer_ids'], q['points']) for q in list(qs.values())[1:]] == [
        (True, 'markdown', ['why'], 1),
        (True, 'code', ['by_hand'], 1),
        (True, 'markdown', [], 3),
    ]
    assert qs['why']['visible'] == qs['why']['hidden'] == '' and qs['why']['n_visible'] == 0
    # the test cell as released is the locked one: an untouched submission has it unchanged
    assert b['locked']['tests'] == {'test_fg': _sha(nb.cells[4].source)}
    assert b['locked']['setup'] == [_sha(cells[1].source)]


def test_marker_exercises_run_their_tests_in_a_copy(hw):
    _, bundle = build_release(read_exercise(hw))
    assert {q['namespace'] for q in bundle['questions']} == {'copy'} and not any(
        'manual' in q for q in bundle['questions']
    )


def test_assets_conflicts_are_refused(tmp_path):
    for d, data in (('a', b'one'), ('b', b'two')):
        (tmp_path / d).mkdir()
        (tmp_path / d / 'pic.png').write_bytes(data)
        nbformat.write(
            new_notebook(cells=[new_markdown_cell('![](pic.png)')] + CELLS[1:]), tmp_path / d / f'ex_{d}.ipynb'
        )
    with pytest.raises(ExerciseFormatError, match="two exercises need different files named 'pic.png'"):
        release([tmp_path / 'a' / 'ex_a.ipynb', tmp_path / 'b' / 'ex_b.ipynb'], tmp_path / 'rel')
    (tmp_path / 'b' / 'pic.png').write_bytes(b'one')  # the same file twice is fine
    release([tmp_path / 'a' / 'ex_a.ipynb', tmp_path / 'b' / 'ex_b.ipynb'], tmp_path / 'rel')
    assert (tmp_path / 'rel' / 'student' / 'pic.png').read_bytes() == b'one'
    # never outside the exercise's folder
    nbformat.write(
        new_notebook(cells=[new_markdown_cell('![](../a/pic.png)')] + CELLS[1:]), tmp_path / 'b' / 'ex_c.ipynb'
    )
    release([tmp_path / 'b' / 'ex_c.ipynb'], tmp_path / 'rel3')
    assert not list((tmp_path / 'rel3').rglob('*.png'))


def test_load_bundles_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not found'):
        load_bundles(tmp_path / 'nope')
    (tmp_path / 'x.json').write_text('{"a": 1}')
    with pytest.raises(ValueError, match='not a grader bundle'):
        load_bundles(tmp_path / 'x.json')
    (tmp_path / 'y.json').write_text('{')
    with pytest.raises(ValueError, match='not a grader bundle'):
        load_bundles(tmp_path / 'y.json')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no grader bundles'):
        load_bundles(tmp_path / 'empty')


@pytest.fixture(scope='module')
def release_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('release')
    release(EXERCISES, out)
    return out


def test_release_is_deterministic_and_leak_free(release_dir, tmp_path):
    release(EXERCISES, tmp_path / 'again')
    for sub in ('student', 'grader'):
        for f in (release_dir / sub).iterdir():
            assert f.read_bytes() == (tmp_path / 'again' / sub / f.name).read_bytes(), f
    for e in EXERCISES:
        ex = read_exercise(e)
        student = (release_dir / 'student' / f'{e.stem}.ipynb').read_text()
        nb = nbformat.reads(student, as_version=4)
        assert all(c.get('outputs', []) == [] for c in nb.cells)
        visible_text = ''.join(
            ''.join(t for k, t, _ in _regions(_src(c), {'solution', 'hidden'}, e.name, i) if k == 'code')
            for i, c in enumerate(ex.nb.cells)
            if c.cell_type == 'code'
        )
        secret = []
        for i, c in enumerate(ex.nb.cells):
            if c.cell_type == 'code':
                secret += [t for k, t, _ in _regions(_src(c), {'solution', 'hidden'}, e.name, i) if k != 'code']
        assert secret
        for block in secret:
            for line in block.splitlines():
                s = line.strip()
                if len(s) >= 15 and s not in visible_text:
                    assert s not in student, (e.name, s)
                    assert json.dumps(s)[1:-1] not in student, (e.name, s)
        bundle = json.loads((release_dir / 'grader' / f'{e.stem}.json').read_text())
        assert {q['id'] for q in bundle['questions']} == set(ex.questions)
        assert all(q['hidden'] for q in bundle['questions'])
        assert set(bundle['locked']['tests']) == set(ex.questions)


def test_bundle_keeps_the_order_of_interleaved_hidden_tests(hw):
    "A visible test after a hidden block (same cell, or a later test cell): the bundle says in which order they run."
    _, bundle = build_release(read_exercise(hw))
    q1, q2 = bundle['questions']
    assert [k for k, _ in q1['parts']] == ['visible', 'hidden', 'visible']
    assert q1['parts'][1][1] == 'assert root(9) == 3 and root(0) == 0\nassert root(1) == 1\n'
    assert 'assert root(16) == 4' in q1['parts'][2][1]
    assert 'parts' not in q2  # visible only: the plain order
