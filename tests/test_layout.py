"""The course's layout and housekeeping stay done: two parts with one numbering, one module per library notebook,
small modules and functions, no private torch names, and a README that maps it all."""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / 'course_lib'
NBS = REPO / 'nbs'
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules():
    return sorted(p for p in LIB.glob('*.py') if p.name not in ('__init__.py', '_modidx.py'))


def default_exps():
    "module name -> the library notebook that builds it (every `#| default_exp` in nbs/)."
    import nbformat

    found = {}
    for nb_path in sorted(NBS.rglob('*.ipynb')):
        nb = nbformat.read(nb_path, as_version=4)
        for cell in nb.cells:
            m = re.search(r'^#\|\s*default_exp\s+(\S+)', cell.source, re.M) if cell.cell_type == 'code' else None
            if m:
                assert m.group(1) not in found, f"{m.group(1)} is built by {found.get(m.group(1))} and {nb_path}"
                found[m.group(1)] = nb_path
    return found


def test_every_module_comes_from_one_library_notebook():
    exps = default_exps()
    assert sorted(exps) == sorted(p.stem for p in modules()), 'a module without a notebook, or the reverse'
    for name, nb_path in exps.items():
        assert nb_path.parent == NBS / 'library', f"{name} is exported from {nb_path}: lessons export nothing"


def test_lessons_and_exercises_share_one_numbering():
    lessons = sorted(p.name for p in (NBS / 'lessons').glob('*.ipynb'))
    exercises = sorted(p.name for p in (NBS / 'exercises').glob('*.ipynb'))
    assert lessons and all(re.fullmatch(r'\d\d_\w+\.ipynb', n) for n in lessons), lessons
    assert exercises == lessons, 'Lesson N, its notebook and its exercise notebook carry the same N and name'


def test_lessons_export_nothing():
    for nb_path in sorted((NBS / 'lessons').glob('*.ipynb')):
        text = nb_path.read_text()
        assert '#| export' not in text and '#| default_exp' not in text, nb_path.name


@pytest.mark.parametrize('path', modules(), ids=lambda p: p.name)
def test_modules_and_functions_are_small(path):
    src = path.read_text()
    n = len(src.splitlines())
    assert n <= MAX_MODULE_LINES, f"{path.name} has {n} lines (at most {MAX_MODULE_LINES}): split the idea"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(src))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


PRIVATE = ['._schedule_phases', '_anneal_func_type', '_BatchNorm', 'sys._getframe', '.total_steps =']


@pytest.mark.parametrize('path', modules(), ids=lambda p: p.name)
def test_no_private_torch_or_python_internals(path):
    src = path.read_text()
    assert not [p for p in PRIVATE if p in src], f"{path.name} uses a private API"


def test_readme_maps_every_module_lesson_and_exercise():
    readme = (REPO / 'README.md').read_text()
    for name, nb_path in default_exps().items():
        rel = nb_path.relative_to(REPO).as_posix()
        assert f'`{rel}`' in readme and f'`course_lib.{name}`' in readme, f"README's layout lacks {name} / {rel}"
    for kind in ('lessons', 'exercises'):
        for nb_path in sorted((NBS / kind).glob('*.ipynb')):
            assert f'`nbs/{kind}/{nb_path.name}`' in readme, f"README does not list nbs/{kind}/{nb_path.name}"


def test_package_docstring_and_llms_txt_list_every_module():
    import course_lib

    llms = (NBS / 'llms.txt').read_text()
    for p in modules():
        assert f'`course_lib.{p.stem}`' in course_lib.__doc__, f"course_lib's docstring does not list {p.stem}"
        assert f'[course_lib.{p.stem}]' in llms, f"nbs/llms.txt does not list {p.stem}"
