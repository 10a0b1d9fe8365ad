"""Grading and grids on a Dask cluster (course_lib.distributed): a LocalCluster of 2 worker processes gives the
same gradebook as the local process pool for the same submissions, loses no submission when one of its worker
processes is killed mid-batch, and gives the same grid table as a local run, cached cells honoured."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

from course_lib.cli import _grade_on
from course_lib.distributed import _sweep_orphans, dask_client, describe_client, run_tasks
from course_lib.experiments import run_grid
from course_lib.gradebook import _secret, _stored, grade
from course_lib.release import load_bundles
from test_autograde import LIGHT, write_demo_class

pytestmark = pytest.mark.filterwarnings('ignore::UserWarning')  # distributed's warnings about ports and memory


@pytest.fixture(scope='module')
def client():
    with dask_client(n_workers=2) as c:
        yield c


def _double(x):
    return 2 * x


def test_local_cluster_and_tasks(client):
    assert describe_client(client).endswith(': 2 workers, 2 threads')
    assert sorted(run_tasks(client, _double, [(1,), (2,), (3,)])) == [(0, 2), (1, 4), (2, 6)]
    got = dict(run_tasks(client, _double, [(1,), (None,)], retries=0, errors='yield'))
    assert got[0] == 2 and isinstance(got[1], TypeError)  # a failing task: its exception, the others' results


def test_folders_of_dead_task_owners_are_swept():
    "A Dask worker killed mid-task leaves its task folder; the next task removes it (its owner process is gone)."
    gone = subprocess.Popen(['true'])
    gone.wait()
    folders = {}
    for who, pid in (('dead', gone.pid), ('alive', os.getpid())):
        folders[who] = tempfile.mkdtemp(prefix='course-dask-')
        with open(os.path.join(folders[who], 'owner.pid'), 'w') as f:
            f.write(str(pid))
    # no owner file: a folder an orphaned grading process wrote into again (removed when old), or one just made (kept)
    folders['old'], folders['new'] = tempfile.mkdtemp(prefix='course-dask-'), tempfile.mkdtemp(prefix='course-dask-')
    os.utime(folders['old'], (time.time() - 3 * 3600,) * 2)
    _sweep_orphans()
    assert not os.path.exists(folders['dead']) and not os.path.exists(folders['old'])
    assert os.path.exists(folders['alive']) and os.path.exists(folders['new'])
    shutil.rmtree(folders['alive'])
    shutil.rmtree(folders['new'])


# ---------------------------------------------------------------------------------------------- the grid
def noisy_train(n_per_class, seed, lr=1e-3, marks=None):
    "A cheap train_fn whose numbers depend on everything (and on the seeded RNG); each call leaves a file in `marks`."
    import numpy as np

    if marks:
        open(os.path.join(marks, f'{n_per_class}-{seed}-{lr}-{os.getpid()}'), 'w').close()
    return {'accuracy': float(n_per_class / 100 + lr + np.random.rand() / 10), 'pid': os.getpid()}


def test_grid_on_dask_is_the_local_grid(client, tmp_path):
    marks = tmp_path / 'marks'
    marks.mkdir()
    cfgs = {'a': dict(lr=1e-3, marks=str(marks)), 'b': dict(lr=1e-2, marks=str(marks))}
    kw = dict(configs=cfgs, ladder=[5, 20], seeds=[0, 1, 2], train_fn=noisy_train, progress=False)
    here = run_grid(**kw, cache_dir=tmp_path / 'here')
    there = run_grid(**kw, cache_dir=tmp_path / 'there', client=client)
    assert len(list(marks.iterdir())) == 24  # 12 cells here, 12 there
    pids = set(there.pid)
    assert os.getpid() not in pids and len(pids) >= 1  # trained in the cluster's worker processes
    same = ['config', 'n_per_class', 'seed', 'lr', 'marks', 'accuracy', 'cached', 'key']
    assert there[same].equals(here[same]) and list(there.columns) == list(here.columns)
    # cached cells are honoured: a re-run on the cluster trains nothing; a grown grid trains only its new cells
    again = run_grid(**kw, cache_dir=tmp_path / 'there', client=client)
    assert again.cached.all() and again.attrs['n_trained'] == 0 and len(list(marks.iterdir())) == 24
    grown = run_grid(**dict(kw, seeds=[0, 1, 2, 3]), cache_dir=tmp_path / 'there', client=client)
    assert grown.attrs['n_trained'] == 4 and len(list(marks.iterdir())) == 28
    assert sorted(p.name for p in (tmp_path / 'there').glob('*.json')) == sorted(grown.key + '.json')


# ---------------------------------------------------------------------------------------------- grading
@pytest.fixture(scope='module')
def demo_class(tmp_path_factory):
    "The demo exercise and a small class (as tests/test_gradebook.py's batch), graded once by the local pool."
    d = tmp_path_factory.mktemp('class')
    subs = write_demo_class(d, loop_name='loop')
    bundles = load_bundles(d / 'release')
    grade(subs, bundles, d / 'local', jobs=2, limits=LIGHT, progress=False, quiet=True)
    return dict(dir=d, subs=subs, bundles=bundles)


def _outputs(out):
    "What a grading run leaves that must not depend on where it ran: gradebook, totals, feedback, results (unsigned)."
    files = {f: (out / f).read_text() for f in ('gradebook.csv', 'totals.csv')}
    files |= {f'feedback/{p.name}': p.read_text() for p in sorted((out / 'feedback').iterdir())}
    for p in sorted((out / 'results').glob('*.json')):
        res = json.loads(p.read_text())
        res.pop('digest', None)
        files[f'results/{p.name}'] = res
    return files


@pytest.mark.slow
def test_dask_grades_as_the_process_pool_does(client, demo_class):
    d = demo_class['dir']
    gb = _grade_on(client, demo_class['subs'], demo_class['bundles'], d / 'dask', limits=LIGHT, progress=False)
    assert gb.groupby('student').points.sum().to_dict() == {
        'exception': 2,
        'instructor': 4,
        'loop': 2,
        'malformed': 0,
        'moved': 4,
        'untouched': 0,
    }
    assert _outputs(d / 'dask') == _outputs(d / 'local')
    # written by the client, signed with the grader's key, and reused by the next run (resumable)
    secret = _secret(d / 'dask')
    for p in (d / 'dask' / 'results').glob('*.json'):
        res = json.loads(p.read_text())
        assert _stored(p, res['key'], secret) == res
    assert (d / 'dask' / 'logs' / 'moved.log').exists()
    before = {p.name: p.stat().st_mtime_ns for p in (d / 'dask' / 'results').iterdir()}
    _grade_on(client, demo_class['subs'], demo_class['bundles'], d / 'dask', limits=LIGHT, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (d / 'dask' / 'results').iterdir()} == before
    assert not list((d / 'dask' / 'results').glob('*.partial.json'))


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_no_submission(client, demo_class):
    "SIGKILL one worker process (by its pid) while it grades: its task is rerun elsewhere; the gradebook is the same."
    d, box = demo_class['dir'], {}
    kw = dict(limits=LIGHT, progress=False, quiet=True)
    t = threading.Thread(
        target=lambda: box.update(gb=_grade_on(client, demo_class['subs'], demo_class['bundles'], d / 'killed', **kw))
    )
    t.start()
    pids = client.run(os.getpid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(client.processing().values()):
        time.sleep(0.2)
    time.sleep(2)  # inside the task: its grading worker and kernel have started
    busy = [w for w, tasks in client.processing().items() if tasks]
    assert busy, 'no task started'
    os.kill(pids[busy[0]], signal.SIGKILL)
    t.join(timeout=600)
    assert not t.is_alive() and 'gb' in box
    assert _outputs(d / 'killed') == _outputs(d / 'local')  # every submission graded, with the same grades
    client.wait_for_workers(2, timeout=60)  # the nanny started a new worker process
    assert pids[busy[0]] not in client.run(os.getpid).values()


@pytest.mark.slow
def test_course_grade_engine_dask(tmp_path):
    "`course grade ... --engine dask` (a LocalCluster of --jobs processes) from a shell: the local pool's gradebook."
    from test_cli import _homework

    ex = _homework(tmp_path)
    exe = shutil.which('course')
    assert subprocess.run([exe, 'release', str(ex), '--out', 'release'], cwd=tmp_path).returncode == 0
    (tmp_path / 'submissions').mkdir()
    shutil.copy(ex, tmp_path / 'submissions' / 'ann.ipynb')
    shutil.copy(tmp_path / 'release' / 'student' / 'hw.ipynb', tmp_path / 'submissions' / 'bob.ipynb')
    base = [exe, 'grade', 'submissions/', '--bundle', 'release', '--jobs', '2', '--no-progress']
    runs = {}
    for name, extra in (('local', []), ('dask', ['--engine', 'dask'])):
        r = subprocess.run(base + ['--out', name] + extra, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        runs[name] = r.stdout
    assert 'dask scheduler tcp://127.0.0.1:' in runs['dask'] and ': 2 workers, 2 threads' in runs['dask']
    assert _outputs(tmp_path / 'dask') == _outputs(tmp_path / 'local')
    assert (tmp_path / 'dask' / 'gradebook.csv').read_text().splitlines()[1].startswith('ann,hw,q1,3,3,passed')
