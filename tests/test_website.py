"""The course website (`course_lib.website`, `course site`): built from a real tiny `course run` of the lessons.

The slow tests share one tiny run and one site (`tiny_site`, built once per session and reused by
tests/test_browser.py). Set COURSE_TEST_RUN_DIR to a folder of executed lessons to skip the run while developing.
"""

import base64
import hashlib
import html
import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
MARKERS = ('### BEGIN SOLUTION', '### END SOLUTION', '### BEGIN HIDDEN TESTS', '### END HIDDEN TESTS')
INLINE = 'module://matplotlib_inline.backend_inline'  # the kernel's plots must be captured, whatever MPLBACKEND says


def make_tiny_site(base: Path) -> dict:
    "Run the lessons at tiny scale into base/run (once per session: a marker file says it is done), build base/site."
    from course_lib.website import build_site

    done = base / 'done.json'
    if done.is_file():
        return json.loads(done.read_text())
    run = Path(os.environ.get('COURSE_TEST_RUN_DIR') or base / 'run')
    t0 = time.monotonic()
    if 'COURSE_TEST_RUN_DIR' not in os.environ:
        from course_lib.cli import run_notebooks

        env = {'MPLBACKEND': INLINE, 'COURSE_RESULTS_DIR': str(run / 'claims')}  # as `course run` gives the kernel
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            res = run_notebooks(scale='tiny', out=run, timeout=600)
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        assert all(r['ok'] for r in res), [r for r in res if not r['ok']]
        if not (run / 'results.json').is_file():
            from course_lib.scoreboard import write_results

            write_results(run, 'tiny')
    t_run = time.monotonic() - t0
    r = build_site(run, base / 'site', root=REPO)
    load = os.getloadavg()[0]
    print(
        f"\ntiny run {t_run:.1f} s, site build {r['seconds']:.1f} s (staging {r['stage_seconds']:.1f} s), load {load:.2f}"
    )
    info = dict(run=str(run), site=str(r['out']), seconds=r['seconds'], scale=r['scale'], machine=r['machine'])
    info['warnings'] = r['warnings']
    done.write_text(json.dumps(info))
    return info


@pytest.fixture(scope='session')
def tiny_site(tmp_path_factory):
    base = tmp_path_factory.getbasetemp() / 'tiny_site'
    base.mkdir(exist_ok=True)
    info = make_tiny_site(base)
    return {k: Path(v) if k in ('run', 'site') else v for k, v in info.items()}


class _Text(HTMLParser):
    "A page's visible text (scripts and styles left out), and its <img> sources."

    def __init__(self):
        super().__init__()
        self.parts, self.imgs, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ('script', 'style'):
            self._skip += 1
        if tag == 'img':
            self.imgs.append(dict(attrs).get('src', ''))

    def handle_endtag(self, tag):
        if tag in ('script', 'style'):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def page(path: Path):
    p = _Text()
    p.feed(path.read_text())
    return ' '.join(' '.join(p.parts).split()), p.imgs


def squash(s: str) -> str:
    return ' '.join(html.unescape(re.sub(r'\x1b\[[0-9;]*m', '', s)).split())


def output_numbers(nb) -> set:
    "The decimal numbers the notebook's outputs show (printed text, and the text of HTML tables)."
    found = set()
    for c in nb.cells:
        for o in c.get('outputs', []):
            data = o.get('data', {})
            if 'image/png' in data:
                continue  # a figure: its text/plain is "<Figure ...>", which the page rightly shows as the image
            if 'application/vnd.jupyter.widget-view+json' in data:
                continue  # a live widget (lesson 4's labelling panel): its text/plain is a Python repr, not what a reader sees
            text = o.get('text') or data.get('text/html') or data.get('text/plain') or ''
            text = re.sub(r'<[^>]+>', ' ', ''.join(text))
            found |= set(re.findall(r'(?<![\w.])\d+\.\d+%?', squash(text)))
    return found


def test_build_site_refuses_to_replace_a_folder_it_did_not_build(tmp_path):
    from course_lib.website import _replace_dir

    new, out = tmp_path / 'new', tmp_path / 'mine'
    new.mkdir()
    out.mkdir()
    (out / 'thesis.tex').write_text('precious')
    with pytest.raises(FileExistsError):
        _replace_dir(new, out)
    assert (out / 'thesis.tex').read_text() == 'precious'
    site = tmp_path / 'site'  # an earlier site (it has the marker) is replaced whole
    site.mkdir()
    (site / '.course_site').write_text('{}')
    (site / 'old.html').write_text('old')
    (new / 'index.html').write_text('new')
    _replace_dir(new, site)
    assert sorted(p.name for p in site.iterdir()) == ['index.html'] and not new.exists()


def test_scoreboard_page_says_when_results_are_missing(tmp_path):
    from course_lib.website import provenance, scoreboard_page

    prov = provenance(tmp_path)
    text = scoreboard_page(prov)
    assert 'No `results.json`' in text and str(tmp_path / 'results.json') in text
    (tmp_path / 'results.json').write_text(json.dumps({'scale': 'small', 'machine': 'a test box', 'claims': []}))
    prov = provenance(tmp_path)
    assert (prov['scale'], prov['machine']) == ('small', 'a test box')
    assert 'No `results.json`' not in scoreboard_page(prov) and 'a test box' in scoreboard_page(prov)


def test_library_pages_leave_out_nbdev_directives_and_hidden_cells(tmp_path):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    from course_lib.website import library_page

    nb = new_notebook(
        cells=[
            new_markdown_cell('# Demo'),
            new_code_cell('#| default_exp demo'),
            new_code_cell('#| export\ndef f(x):\n    return x + 1'),
            new_code_cell('#| hide\nsecret_setup = 1'),
        ]
    )
    src = tmp_path / '00_demo.ipynb'
    nbformat.write(nb, src)
    out, executed = library_page(src, tmp_path / 'no-run')
    assert not executed
    assert [c.source for c in out.cells] == ['# Demo', 'def f(x):\n    return x + 1']


@pytest.mark.slow
def test_site_builds_from_a_tiny_run_and_says_where_its_numbers_come_from(tiny_site):
    site = tiny_site['site']
    assert tiny_site['scale'] == 'tiny'
    assert 'cpu' in tiny_site['machine'].lower() or 'cuda' in tiny_site['machine'].lower()
    text, _ = page(site / 'index.html')
    assert 'tiny' in text and tiny_site['machine'] in text
    for part in ('lessons', 'library', 'exercises'):
        srcs = sorted((REPO / 'nbs' / part).glob('[0-9][0-9]*_*.ipynb'))
        assert srcs and all((site / part / f'{s.stem}.html').is_file() for s in srcs), part
    for n, s in enumerate(sorted((REPO / 'nbs' / 'lessons').glob('[0-9][0-9]_*.ipynb')), 1):
        assert f'Lesson {int(s.name[:2])}' in text  # navigation by lesson number
    score, _ = page(site / 'scoreboard.html')
    results = json.loads((tiny_site['run'] / 'results.json').read_text())
    claims = [r for rows in results['lessons'].values() for r in rows]
    assert claims, 'the tiny run recorded no claim'
    for r in claims:  # every claim of results.json, with its value and verdict
        assert f"{r['value']:.3g}{r['unit']}" in score and r['verdict'] in score, r
    assert score.count(' to ') >= len(claims) and 'No results.json' not in score


@pytest.mark.slow
def test_the_tiny_run_s_results_file_has_every_lesson_s_claims(tiny_site):
    "The scoreboard's shape at tiny scale: every lesson recorded claims, each a value inside its interval and the verdict that interval allows."
    from course_lib.scoreboard import verdict_from_interval

    results = json.loads((Path(tiny_site['run']) / 'results.json').read_text())
    assert results['scale'] == 'tiny' and results['machine'] and results['written']
    lessons = [s.stem for s in sorted((REPO / 'nbs' / 'lessons').glob('[0-9][0-9]_*.ipynb'))]
    assert sorted(results['lessons']) == lessons
    for lesson, rows in results['lessons'].items():
        assert rows, lesson
        for r in rows:
            assert r['lesson'] == lesson and r['claim'] and r['low'] <= r['value'] <= r['high'], r
            assert r['verdict'] in ('flagged', verdict_from_interval(r['low'], r['high'], r['threshold'])), r


@pytest.mark.slow
def test_every_lesson_page_holds_its_plots_and_numbers(tiny_site):
    site, run = tiny_site['site'], tiny_site['run']
    lessons = sorted((REPO / 'nbs' / 'lessons').glob('[0-9][0-9]_*.ipynb'))
    for src in lessons:
        nb = nbformat.read(run / src.name, as_version=4)
        pngs = [
            o['data']['image/png'] for c in nb.cells for o in c.get('outputs', []) if 'image/png' in o.get('data', {})
        ]
        assert pngs, f"the tiny run of {src.name} drew no plot"
        text, imgs = page(site / 'lessons' / f'{src.stem}.html')
        shown = {hashlib.sha256((site / 'lessons' / i).read_bytes()).hexdigest() for i in imgs if '_images/' in i}
        want = {hashlib.sha256(base64.b64decode(p)).hexdigest() for p in pngs}
        assert want <= shown, f"{src.name}: {len(want - shown)} of its {len(want)} plots are missing from its page"
        nums = output_numbers(nb)
        assert len(nums) >= 5, f"{src.name}: its outputs should hold numbers"
        missing = sorted(n for n in nums if n not in text)
        assert not missing, f"{src.name}: numbers of its outputs missing from its page: {missing[:10]}"


def _region_lines(src: str, begin: str, end: str) -> set:
    out, inside = set(), False
    for line in src.splitlines():
        s = line.strip()
        if s.startswith(begin):
            inside = True
        elif s.startswith(end):
            inside = False
        elif inside and len(s) >= 12:
            out.add(' '.join(s.split()))
    return out


def secret_lines() -> set:
    """Lines of the exercises' instructor material (solutions, hidden tests, known-wrong answers, answer keys,
    hints beyond the nudge) that appear nowhere a student may read."""
    from course_lib.hints import HINT_RE
    from course_lib.instructor_only import is_instructor_only

    secret = set()
    for ex in sorted((REPO / 'nbs' / 'exercises').glob('*.ipynb')):
        for c in nbformat.read(ex, as_version=4).cells:
            secret |= _region_lines(c.source, '### BEGIN SOLUTION', '### END SOLUTION')
            secret |= _region_lines(c.source, '### BEGIN HIDDEN TESTS', '### END HIDDEN TESTS')
            if is_instructor_only(c):
                secret |= {' '.join(s.split()) for s in c.source.splitlines()[1:] if len(s.strip()) >= 12}
            secret |= {' '.join(m.group(1).split()) for m in map(HINT_RE.match, c.source.splitlines()) if m}
    public = ''
    for part in ('lessons', 'library'):
        for f in (REPO / 'nbs' / part).glob('*.ipynb'):
            public += ' '.join(' '.join(c.source.split()) for c in nbformat.read(f, as_version=4).cells)
    from course_lib.exercise import read_exercise
    from course_lib.release import build_release

    for ex in sorted((REPO / 'nbs' / 'exercises').glob('*.ipynb')):
        student, _ = build_release(read_exercise(ex))
        public += ' '.join(' '.join(c.source.split()) for c in student.cells)
    return {s for s in secret if s not in public}


@pytest.mark.slow
def test_no_page_holds_solutions_or_hidden_tests(tiny_site):
    site = tiny_site['site']
    secret = secret_lines()
    assert len(secret) >= 10, "the exercises' solutions should give lines to look for"
    allowed = {  # library pages that document the exercise format show its markers in their own examples
        f'library/{f.stem}.html'
        for f in (REPO / 'nbs' / 'library').glob('*.ipynb')
        if any(m in f.read_text() for m in MARKERS)
    }
    files = [f for f in site.rglob('*') if f.is_file() and f.suffix in ('.html', '.ipynb', '.txt', '.js', '.json')]
    assert len(files) > 30
    for f in files:
        raw = f.read_text(errors='replace')
        text = page(f)[0] if f.suffix == '.html' else ' '.join(raw.split())
        flat = ' '.join(raw.split())
        leaked = [s for s in secret if s in text or s in flat]
        assert not leaked, f"{f.relative_to(site)} shows instructor-only lines: {leaked[:3]}"
        rel = f.relative_to(site).as_posix()
        if rel not in allowed and not rel.startswith('_sources/library/'):
            assert not [m for m in MARKERS if m in raw], f"{rel} holds solution/hidden-test markers"
    ex_text, _ = page(site / 'exercises' / '01_transfer_learning.html')
    assert 'YOUR ANSWER HERE' in ex_text and 'NotImplementedError' in ex_text  # the student's stubs are shown


@pytest.mark.slow
def test_internal_links_resolve(tiny_site):
    from course_lib.website import broken_links

    site = tiny_site['site']
    assert broken_links(site) == []
    _, imgs = page(site / 'lessons' / '01_transfer_learning.html')
    assert imgs
    # the checker sees a broken link, a missing anchor and an image outside the site
    bad = site / 'zz_broken.html'
    bad.write_text('<a href="nope.html">x</a><a href="index.html#no-such-anchor">y</a><img src="../../etc/x.png">')
    try:
        assert len(broken_links(site)) == 3
    finally:
        bad.unlink()


@pytest.mark.slow
def test_building_never_executes_a_notebook(tmp_path):
    "A lesson whose code would fail if run: the site shows the outputs its run left, and builds."
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    from course_lib.website import build_site

    root, run = tmp_path / 'course', tmp_path / 'run'
    for d in ('nbs/lessons', 'nbs/library', 'nbs/exercises'):
        (root / d).mkdir(parents=True)
    run.mkdir()
    src = new_notebook(cells=[new_markdown_cell('# Lesson 1: demo'), new_code_cell("print(6 * 7 + 0.5)")])
    nbformat.write(src, root / 'nbs' / 'lessons' / '01_demo.ipynb')
    src.cells[1].outputs = [new_output('stream', name='stdout', text='accuracy 0.8125 from the run\n')]
    nbformat.write(src, run / '01_demo.ipynb')
    lib = new_notebook(cells=[new_markdown_cell('# Demo library'), new_code_cell('#| export\nx = 1')])
    nbformat.write(lib, root / 'nbs' / 'library' / '00_demo.ipynb')
    r = build_site(run, tmp_path / 'site', root=root)
    text, _ = page(tmp_path / 'site' / 'lessons' / '01_demo.html')
    assert 'accuracy 0.8125 from the run' in text and '42.5' not in text
    assert r['pages']['lessons'] == ['lessons/01_demo'] and r['scale'] == 'run'
    score, _ = page(tmp_path / 'site' / 'scoreboard.html')
    assert 'No results.json' in score


def test_course_site_says_when_the_run_folder_is_missing(tmp_path, capsys):
    from course_lib.cli import main

    assert main(['site', '--run', str(tmp_path / 'no-run'), '--out', str(tmp_path / 'site')]) == 2
    assert 'no run folder' in capsys.readouterr().err and not (tmp_path / 'site').exists()


@pytest.mark.slow
def test_course_site_builds_the_site_from_the_command_line(tiny_site, tmp_path, capsys):
    from course_lib.cli import main

    assert main(['site', '--run', str(tiny_site['run']), '--out', str(tmp_path / 'site')]) == 0
    out = capsys.readouterr().out
    assert re.search(r'course site: \d+ pages from .* \(tiny scale\) in [\d.]+ s', out), out
    assert (tmp_path / 'site' / 'index.html').is_file() and (tmp_path / 'site' / '.course_site').is_file()
