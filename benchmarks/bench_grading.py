"""Batch-grading throughput with and without the bubblewrap sandbox, and on a Dask cluster beside the local process
pool: the same generated submissions (correct, wrong, timing out, broken), graded once per engine, isolation mode and
worker count.

    python benchmarks/bench_grading.py [--n 40] [--jobs 2] [--cell-timeout 3] [--repeats 1] [--no-dask]
    python benchmarks/bench_grading.py --scheduler tcp://host:8786     # the Dask run on a real cluster

Prints submissions per minute for each isolation mode ('none': processes and limits only; 'bwrap': each kernel
in bubblewrap) and worker count, the sandbox's overhead (the issue asks for at most 15 %), and whether the grades
are identical; measured in this process on this machine (timings are noisy when other people share the CPU).
With --repeats > 1 the modes alternate and the best time of each counts. The Dask run ('dask') grades on a
LocalCluster of --jobs worker processes (or on --scheduler), started before the clock starts; its grades must be
identical to the process pool's. The exercise is small on purpose
(numpy only, no torch preload): the time measured is the grader's own cost (a worker process and a kernel per
submission, limits, tests, the sandbox), not the students' code.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_notebook, new_code_cell

from course_lib import grading as G
from course_lib.core import describe_machine
from course_lib.distributed import dask_client, describe_client
from course_lib.isolation import bwrap_path

CELLS = [
    "import numpy as np\nfrom course_lib.grading import check, assert_close\nrng = np.random.default_rng(0)\nx = rng.normal(size=(64, 8))",
    "#| exercise: q1 points=2\ndef standardize(a):\n    ### BEGIN SOLUTION\n    return (a - a.mean(0)) / a.std(0)\n    ### END SOLUTION",
    "# tests: q1\nz = standardize(x)\nassert z.shape == x.shape\nassert_close(z.mean(0), np.zeros(8), atol=1e-6)\n"
    "### BEGIN HIDDEN TESTS\nassert_close(z.std(0), np.ones(8), atol=1e-6)\n### END HIDDEN TESTS",
    "#| exercise: q2 points=1\n### BEGIN SOLUTION\ntop = int(np.argmax(x[:, 0]))\n### END SOLUTION",
    "# tests: q2\nassert isinstance(top, int)\n### BEGIN HIDDEN TESTS\nassert top == int(np.argmax(x[:, 0]))\n### END HIDDEN TESTS",
    "#| exercise: q3 points=1\ndef pairwise(a):\n    ### BEGIN SOLUTION\n    return ((a[:, None] - a[None]) ** 2).sum(-1) ** 0.5\n    ### END SOLUTION",
    "# tests: q3\nd = pairwise(x[:5])\nassert d.shape == (5, 5)\n### BEGIN HIDDEN TESTS\nassert_close(d[0, 1], np.linalg.norm(x[0] - x[1]))\n### END HIDDEN TESTS",
]
WRONG = "#| exercise: q1 points=2\ndef standardize(a):\n    return a - a.mean()"
LOOP = "#| exercise: q3 points=1\ndef pairwise(a):\n    while True: pass"


def make_batch(d: Path, n: int):
    "n submissions: 40% correct, 30% wrong, 15% timing out, 15% broken files."
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in CELLS]), d / 'ex.ipynb')
    G.release([d / 'ex.ipynb'], d / 'release')
    subs = d / 'subs'
    subs.mkdir()
    kinds = []
    for i in range(n):
        r = i % 20
        kind = 'correct' if r < 8 else 'wrong' if r < 14 else 'timeout' if r < 17 else 'broken'
        p = subs / f'student{i:03d}_{kind}.ipynb'
        cells = list(CELLS)
        if kind == 'wrong':
            cells[1] = WRONG
        if kind == 'timeout':
            cells[5] = LOOP
        if kind == 'broken':
            p.write_text(['', '{"cells": [', '[]'][i % 3])
            kinds.append(kind)
            continue
        nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), p)
        kinds.append(kind)
    return subs, kinds


def run_once(subs, release, out, jobs, limits, client=None):
    "Grade the batch once (on the Dask `client` if given): (seconds, gradebook)."
    from course_lib.cli import _grade_on

    t0 = time.perf_counter()
    gb = _grade_on(client, subs, release, out, jobs=jobs, limits=limits, progress=False, quiet=True, force=True)
    return time.perf_counter() - t0, gb


def limits_for(mode, cell_timeout):
    return G.Limits(
        cell_timeout=cell_timeout,
        notebook_timeout=60,
        memory_mb=1024,
        max_output_chars=20000,
        preload=('numpy',),
        isolation=mode,
    )


def report(j, n, best, gbs, modes):
    for mode in best:
        tot = gbs[mode].groupby('student').points.sum()
        print(
            f"jobs={j} {mode}: {best[mode]:.1f} s, {n / best[mode] * 60:.1f} submissions/min; "
            f"mean score {tot.mean():.2f} / 4; outcomes "
            f"{ {k: int(v) for k, v in gbs[mode].status.value_counts().sort_index().items()} }"
        )
    if 'bwrap' in modes:
        same = gbs['bwrap'].reset_index(drop=True).equals(gbs['none'].reset_index(drop=True))
        cost = best['bwrap'] / best['none'] - 1
        print(
            f"jobs={j}: the sandbox costs {cost:+.1%} time ({(1 / (1 + cost) - 1):+.1%} throughput; "
            f"limit 15 %); identical grades: {same}"
        )
    for mode in modes:
        if f'dask {mode}' in best:
            same = gbs[f'dask {mode}'].reset_index(drop=True).equals(gbs[mode].reset_index(drop=True))
            print(
                f"jobs={j}: dask vs process pool ({mode}): {n / best[f'dask {mode}'] * 60:.1f} vs "
                f"{n / best[mode] * 60:.1f} submissions/min; identical grades: {same}"
            )


def measure(j, a, modes, subs, d, client):
    "Best seconds and gradebooks {engine/mode: ...} for `j` workers, the modes alternating between repeats."
    best, gbs = {}, {}
    for r in range(a.repeats):
        for mode in modes if r % 2 == 0 else modes[::-1]:
            runs = [(mode, None)] + ([(f'dask {mode}', client)] if client is not None else [])
            for name, c in runs if r % 2 == 0 else runs[::-1]:
                out = d / f"out-{name.replace(' ', '-')}-{j}"
                dt, gbs[name] = run_once(subs, d / 'release', out, j, limits_for(mode, a.cell_timeout), c)
                best[name] = min(dt, best.get(name, dt))
    return best, gbs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=40)
    ap.add_argument('--jobs', type=int, nargs='+', default=[2])
    ap.add_argument('--cell-timeout', type=float, default=3)
    ap.add_argument('--repeats', type=int, default=1)
    ap.add_argument('--no-dask', action='store_true', help='only the local process pool')
    ap.add_argument('--scheduler', help='the Dask run on this scheduler (address or scheduler file)')
    a = ap.parse_args(argv)
    modes = ['none', 'bwrap'] if bwrap_path() else ['none']
    d = Path(tempfile.mkdtemp(prefix='bench-grading-'))
    try:
        subs, kinds = make_batch(d, a.n)
        print(
            f"machine: {describe_machine()}; os.cpu_count()={os.cpu_count()}; load average {os.getloadavg()[0]:.1f} "
            f"(other users share this CPU: timings are noisy)"
        )
        print(
            f"{a.n} submissions: "
            + ', '.join(f"{k} {kinds.count(k)}" for k in ('correct', 'wrong', 'timeout', 'broken'))
        )
        if len(modes) == 1:
            print("bubblewrap is not installed (apt-get install bubblewrap): only isolation='none' is measured")
        for j in a.jobs:
            if a.no_dask:
                best, gbs = measure(j, a, modes, subs, d, None)
            else:
                t0 = time.perf_counter()
                with dask_client(a.scheduler, n_workers=j) as client:
                    print(f"{describe_client(client)} (started in {time.perf_counter() - t0:.1f} s, not timed)")
                    best, gbs = measure(j, a, modes, subs, d, client)
            report(j, a.n, best, gbs, modes)
            print(f"load average after jobs={j}: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    main()
