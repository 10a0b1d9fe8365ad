"""The library is exactly what the notebooks export, and the notebooks are stored clean (no outputs)."""

import filecmp
import json
import shutil
import subprocess
import sys
from pathlib import Path
from conftest import REPO


def _tree(root: Path, sub: str):
    return sorted(
        p.relative_to(root)
        for p in (root / sub).rglob('*')
        if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts
    )


def test_nbdev_export_and_clean_change_nothing(tmp_path):
    work = tmp_path / 'repo'
    work.mkdir()
    for f in ('pyproject.toml', 'settings.ini', 'README.md'):
        if (REPO / f).exists():
            shutil.copy(REPO / f, work / f)
    for d in ('nbs', 'course_lib'):
        shutil.copytree(REPO / d, work / d, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    bindir = Path(sys.executable).parent
    for cmd in ('nbdev-export', 'nbdev-clean'):
        exe = shutil.which(cmd, path=str(bindir)) or shutil.which(cmd)
        assert exe, f'{cmd} is not installed: pip install -e ".[dev]"'
        r = subprocess.run([exe], cwd=work, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f'{cmd} failed:\n{r.stdout}\n{r.stderr}'
    changed = []
    for sub in ('course_lib', 'nbs'):
        before, after = _tree(REPO, sub), _tree(work, sub)
        changed += [f'added/removed: {p}' for p in sorted(set(before) ^ set(after))]
        changed += [str(p) for p in before if p in set(after) and not filecmp.cmp(REPO / p, work / p, shallow=False)]
    assert not changed, (
        'nbdev-export/nbdev-clean would change these files; run `nbdev-export && nbdev-clean` and commit:\n'
        + '\n'.join(changed)
    )


def test_notebooks_are_stored_without_outputs():
    dirty = []
    for nb in sorted((REPO / 'nbs').rglob('*.ipynb')):
        if '.ipynb_checkpoints' in nb.parts:
            continue
        cells = json.loads(nb.read_text())['cells']
        if any(c.get('outputs') or c.get('execution_count') for c in cells if c['cell_type'] == 'code'):
            dirty.append(nb.name)
    assert not dirty, f'notebooks stored with outputs: {dirty}'
