"""Tests of course_lib.isolation: when bubblewrap is used, what the sandbox shows the kernel, and (with bwrap
installed) what a process inside it can and cannot do."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import course_lib
from course_lib import isolation
from course_lib.isolation import IsolationWarning, bwrap_argv, bwrap_path, resolve_isolation, sandbox_mounts

# Skipped without bubblewrap on a developer's machine; CI installs it and sets COURSE_REQUIRE_BWRAP=1, so there a
# missing bubblewrap fails these tests instead of skipping them.
needs_bwrap = pytest.mark.skipif(
    bwrap_path() is None and not os.environ.get('COURSE_REQUIRE_BWRAP'),
    reason='bubblewrap is not installed (apt-get install bubblewrap)',
)


def test_resolve_isolation_without_bubblewrap_warns_once(monkeypatch):
    monkeypatch.setattr(isolation, 'bwrap_path', lambda: None)
    monkeypatch.setattr(isolation, '_warned', [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert resolve_isolation('auto') == 'none'
        assert resolve_isolation('auto') == 'none'
        assert resolve_isolation() == 'none'
    assert len(caught) == 1 and caught[0].category is IsolationWarning
    assert 'apt-get install bubblewrap' in str(caught[0].message)
    with pytest.raises(RuntimeError, match='apt-get install bubblewrap'):
        resolve_isolation('bwrap')
    assert resolve_isolation('none') == 'none'
    with pytest.raises(ValueError, match='isolation must be one of'):
        resolve_isolation('docker')


def test_resolve_isolation_with_bubblewrap(monkeypatch):
    monkeypatch.setattr(isolation, 'bwrap_path', lambda: '/usr/bin/bwrap')
    assert resolve_isolation('auto') == resolve_isolation('bwrap') == 'bwrap'
    assert resolve_isolation('none') == 'none'


def test_mounts_show_the_system_and_course_code_and_hide_the_graders_folders(tmp_path, monkeypatch):
    grader = tmp_path / 'course'  # where `course grade` runs: bundles, submissions, gradebook
    (grader / 'release').mkdir(parents=True)
    extra = Path('/var/lib')  # a bundle kept under a system folder
    monkeypatch.chdir(grader)
    work, run = tmp_path / 'work', tmp_path / 'run'
    work.mkdir()
    run.mkdir()
    mounts = sandbox_mounts(work, run, dict(os.environ, HOME=str(tmp_path / 'home')), [sys.executable], hide=[extra])
    opt = {p: o for o, s, p in mounts}
    assert opt['/usr'] == '--ro-bind' and opt['/etc'] == '--ro-bind'
    assert opt['/tmp'] == opt['/root'] == opt['/home'] == '--tmpfs'
    assert opt[str(grader.resolve())] == '--tmpfs'  # the grader's folder: an empty one
    assert opt[str(work.resolve())] == opt[str(run.resolve())] == '--bind'  # the only writable folders kept
    pkg = Path(course_lib.__file__).resolve().parent
    assert opt[str(pkg)] == '--ro-bind'
    assert opt[os.path.realpath(sys.base_prefix)] == '--ro-bind'
    assert [s for o, s, p in mounts if p == '/etc/shadow'] in ([], ['/dev/null'])
    if extra.is_dir():
        assert opt[str(extra)] == '--tmpfs'  # `hide` hides a folder inside the read-only system too
    assert '/' not in opt
    depth = [len(Path(p).parts) for o, s, p in mounts]
    assert depth == sorted(depth)  # bwrap mounts in order: a deeper mount wins over its parent


def test_a_mirror_reached_through_a_symlink_is_bound_at_that_path(tmp_path, mirror):
    "CI's ../shared may be a symlink into a hidden folder (/tmp): the kernel reads the mirror by the path it was given."
    link = tmp_path / 'shared'
    link.symlink_to(mirror.parent, target_is_directory=True)
    work, run = tmp_path / 'work', tmp_path / 'run'
    work.mkdir()
    run.mkdir()
    env = dict(os.environ, COURSE_DATA_MIRROR=str(link / 'data'))
    mounts = {p: (o, s) for o, s, p in sandbox_mounts(work, run, env, [sys.executable])}
    assert mounts[str(link / 'data')] == ('--ro-bind', str(mirror.resolve()))
    assert mounts[str(mirror.resolve())] == ('--ro-bind', str(mirror.resolve()))


def test_bwrap_argv_shape(tmp_path):
    argv = bwrap_argv(tmp_path, tmp_path, dict(os.environ), [sys.executable], tmpfs_mb=64)
    for flag in ('--unshare-net', '--unshare-pid', '--die-with-parent', '--new-session', '--cap-drop'):
        assert flag in argv
    assert argv[-1] == '--' and argv[argv.index('--chdir') + 1] == str(tmp_path)
    assert argv[argv.index('--size') + 1] == str(64 * 2**20)


@needs_bwrap
def test_a_process_in_the_sandbox_cannot_write_outside_its_work_folder(tmp_path):
    work, run = tmp_path / 'work', tmp_path / 'run'
    work.mkdir()
    run.mkdir()
    outside = tmp_path / 'gradebook.csv'
    outside.write_text('student,points\n')
    code = (
        "import os\n"
        "for p in ('here.txt', '/usr/x', '/etc/x', " + repr(str(outside)) + "):\n"
        "    try:\n"
        "        open(p, 'a').write('x')\n"
        "        print('wrote', p)\n"
        "    except OSError as e:\n"
        "        print('no', p, type(e).__name__)\n"
        "print(os.getuid(), open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
    )
    argv = bwrap_argv(work, run, dict(os.environ), [sys.executable]) + [sys.executable, '-c', code]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == 'wrote here.txt' and lines[1].startswith('no /usr/x') and lines[2].startswith('no /etc/x')
    assert lines[3].startswith(f'wrote {outside}')  # a private, empty /tmp: the grader's file is not there
    assert outside.read_text() == 'student,points\n' and (work / 'here.txt').read_text() == 'x'
    assert lines[4].split()[1] == '0000000000000000'  # no capabilities, even for a grader run as root
