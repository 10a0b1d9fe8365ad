"""Practical deep learning on one GPU (or a laptop CPU): transfer learning, small-subset experiments and progressive resizing on real Imagenette/Imagewoof images, with graded exercises.

Modules:

- `course_lib.cli`: `course run` executes the lessons (the README's main job), `course release` / `course grade` build and grade exercises, `course settings` shows what the course will use.
- `course_lib.grading`: One instructor notebook per lesson → a student notebook (solutions stubbed, hidden tests removed) and a grader bundle; instant, tensor-aware feedback in the notebook; a batch grader that never breaks.
- `course_lib.resizing`: Train the early epochs on small images and finish on large ones: most of the compute is saved, and the network ends up as good as one trained at full size all along."""

__version__ = "0.1.0"
