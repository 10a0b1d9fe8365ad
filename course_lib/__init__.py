"""Practical deep learning on one GPU (or a laptop CPU): transfer learning, small-subset experiments and progressive resizing on real Imagenette/Imagewoof images, with graded exercises.

Modules:

- `course_lib.active`: A pool of unlabelled photographs, a frozen pretrained body whose features are computed once, a small head retrained after each round, query strategies, and a labelling loop a human or an oracle answers.
- `course_lib.agreement`: Seed noise against the spread between configs, and rank agreement between subset sizes (Spearman, Kendall, bootstrap intervals, regret).
- `course_lib.assertions`: Tensor-aware differences, `assert_close` and the comparisons inside tests: same kinds, real truth values, and no credit for an object that equals anything (standard library only at import time).
- `course_lib.autograde`: Grade one student's notebook against its grader bundle: read the file without trusting it, find each answer by its question id, plan which cells run and when each question's tests run, run them in a sandboxed kernel, and turn test results into a verdict per question.
- `course_lib.callbacks`: Events that small objects can hook into, exceptions that cancel a batch, an epoch or a fit, and schedules driven by the fraction of training done: the extension points of the course's Learner.
- `course_lib.capstone`: How fast does one machine reach a target accuracy, and which of the course's techniques buy how much? Recipes as data, a training clock, runs that stop at the target, censored ratios and a DAWNBench table.
- `course_lib.checks`: `check("q1")` and the tests it runs: statement-by-statement test execution with tensor-aware explanations, the same engine for the student's instant feedback and for the grader (standard library only).
- `course_lib.cli`: `course run` executes the lessons (the README's main job), `course release` / `course grade` build and grade exercises, `course test` runs the test suite, `course site` builds the website, `course settings` informs.
- `course_lib.core`: One place that says how big every experiment in the course is, where the data lives, and which device runs it.
- `course_lib.data`: Where the photographs come from, which of them an ImageNet-pretrained network has already seen, and how we pick a reproducible subset of them.
- `course_lib.distributed`: When a class or a grid outgrows one machine: each submission, or each grid cell, becomes one task of a Dask cluster (a `LocalCluster` here, a scheduler address or Slurm/PBS/Kubernetes elsewhere).
- `course_lib.download`: Stream, resume, verify, rename atomically: the habits that make a 100 MB - 1.5 GB download boring.
- `course_lib.exercise`: An instructor's exercise notebook, read and checked: its questions, answer cells, visible and hidden tests, from comment markers or nbgrader metadata.
- `course_lib.experiments`: Train every config x subset size x seed once, checked before it starts and cached on disk, into one tidy table.
- `course_lib.extract`: Check every member before it is written, extract into a temporary folder, read the gzip stream to its end, rename into place.
- `course_lib.gradebook`: Grade every submission of a class in parallel worker processes, resumably and without ever aborting the batch: find each student's notebooks and the exercise each one is, grade them, sign and reuse the results.
- `course_lib.grading`: The grader's public names in one place: every released student notebook does `from course_lib.grading import check, assert_close`, and instructors call `course_lib.grading.release`, `read_exercise` and `grade`.
- `course_lib.hints`: An answer cell's `hint="…"` is the nudge printed in the student's stub; each `#| hint:` line below it is one more level, shown by `hint("qN")`; the release refuses a hint that contains its solution's code.
- `course_lib.instructor_only`: What an exercise notebook holds for the instructor and never releases: known-wrong answers (`# wrong:` raw cells), checked to fail, and answer keys; `verify_exercise` runs the reference and every wrong answer.
- `course_lib.interpret`: Plots of a Learner's history, the confusion matrix, and the images a model gets most confidently wrong.
- `course_lib.isolation`: A sandbox for each submission's kernel, made with bubblewrap (`bwrap`): no network, its own process namespace, a read-only system, a private writable folder, and no view of the bundle or other submissions.
- `course_lib.kernel_side`: The grader's side of a student's kernel: a private folder, a first cell that loads the test engine and compiles every test before any student code runs, and one small cell per question whose results must all come back.
- `course_lib.learner`: The Learner trains a model on DataLoaders, announcing every step to ordered callbacks: one-cycle schedules, time budgets, freezing, lr_find, checkpoints, mixed precision on a GPU.
- `course_lib.loaders`: How the course feeds images to a network fast enough on a laptop CPU: decode each JPEG once, then cut, crop and normalise whole batches of tensors.
- `course_lib.models`: The networks the course trains: a small ResNet from scratch, EfficientNet-Lite0 with its real ImageNet weights (offline) or a torchvision ResNet, each split into a body and a head.
- `course_lib.nbgrader_input`: nbgrader-authored notebooks: the role of each cell (autograded and manually graded answers, tests, tasks, locked cells), and nbgrader's own release rules (its stubs, hidden tests removed, locked-cell flags).
- `course_lib.release`: From one instructor notebook, two files: the student's notebook (solutions stubbed, hidden tests removed, `check()` cells) and the grader's bundle (questions, points, every test, checksums of the locked cells); and the bundles read back.
- `course_lib.report`: The outputs of a graded class: one feedback page per student, the gradebook (a row per student and question), totals per student across the exercises' notebooks, hand grades merged from a CSV, and the summary.
- `course_lib.resizing`: Train the early epochs on small images and the last ones on large images: a size schedule, a Learner callback that follows it, and a trained model tested at other sizes.
- `course_lib.runner`: `course run` executes the lesson notebooks end to end: each in its own folder with the scale set, kernels on unix sockets, a progress bar per notebook, and the scoreboard of every claim the lessons tested.
- `course_lib.sandbox`: A Jupyter kernel for one submission that survives what students' code does: time limits per cell (interrupt, then kill and restart with the earlier cells replayed), a memory limit, a cap on output, process-group kills that leave nothing behind, and a bubblewrap sandbox when the machine has one.
- `course_lib.scoreboard`: Lessons record each claim they test (value, interval, verdict) with `record_claim`; `course run` collects them into `runs/<scale>/results.json` and prints the scoreboard.
- `course_lib.subset_experiment`: `SubsetExperiment`: a `run_grid` train_fn that draws nested, seeded subsets of a real image pool and trains a probe on frozen EfficientNet-Lite0 features or a small ResNet from scratch.
- `course_lib.timing`: How long a run takes to reach a target accuracy (DAWNBench's measure), in wall-clock and CPU seconds, read off a Learner's history.
- `course_lib.transfer`: The ways lesson 1 compares of putting a pretrained network to work on a new dataset: no training at all, a linear probe on features computed once, fine-tuning, and from scratch for contrast, each within a budget of training time.
- `course_lib.website`: `build_site` turns the executed notebooks of a `course run` into a static website: lessons with their outputs and plots, the library as API docs, exercises as students get them, and the run's scoreboard."""

__version__ = "0.1.0"
