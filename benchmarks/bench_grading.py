"""Batch-grading throughput: 40 generated submissions (correct, wrong, timing out, broken), 1 vs 2 workers.

    python benchmarks/bench_grading.py [--n 40] [--jobs 1 2] [--cell-timeout 3]

Prints submissions per minute for each worker count and the speed-up over the first, measured in this process
on this machine (timings are noisy when other people share the CPU). The exercise is small on purpose (numpy
only, no torch preload): the time measured is the grader's own cost (a worker process and a kernel per
submission, limits, tests), not the students' code.
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=40)
    ap.add_argument('--jobs', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--cell-timeout', type=float, default=3)
    a = ap.parse_args(argv)
    d = Path(tempfile.mkdtemp(prefix='bench-grading-'))
    try:
        subs, kinds = make_batch(d, a.n)
        limits = G.Limits(
            cell_timeout=a.cell_timeout, notebook_timeout=60, memory_mb=1024, max_output_chars=20000, preload=('numpy',)
        )
        print(
            f"machine: {describe_machine()}; os.cpu_count()={os.cpu_count()}; load average {os.getloadavg()[0]:.1f} "
            f"(other users share this CPU: timings are noisy)"
        )
        print(
            f"{a.n} submissions: "
            + ', '.join(f"{k} {kinds.count(k)}" for k in ('correct', 'wrong', 'timeout', 'broken'))
        )
        rates, gbs = {}, {}
        for j in a.jobs:
            t0 = time.perf_counter()
            gb = G.grade(
                subs, d / 'release', d / f'out{j}', jobs=j, limits=limits, progress=False, quiet=True, force=True
            )
            dt = time.perf_counter() - t0
            rates[j] = a.n / dt * 60
            gbs[j] = gb
            tot = gb.groupby('student').points.sum()
            print(
                f"jobs={j}: {dt:.1f} s, {rates[j]:.1f} submissions/min; mean score {tot.mean():.2f} / 4; "
                f"outcomes { {k: int(v) for k, v in gb.status.value_counts().sort_index().items()} }"
            )
        base = a.jobs[0]
        for j in a.jobs[1:]:
            same = gbs[j].reset_index(drop=True).equals(gbs[base].reset_index(drop=True))
            print(f"speed-up jobs={j} vs jobs={base}: {rates[j] / rates[base]:.2f}x (identical grades: {same})")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    main()
