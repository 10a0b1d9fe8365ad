"""Practical deep learning on one GPU (or a laptop CPU): transfer learning, small-subset experiments and progressive resizing on real Imagenette/Imagewoof images, with graded exercises.

Modules:

- `course_lib.grading`: One instructor notebook per lesson → a student notebook (solutions stubbed, hidden tests removed) and a grader bundle; instant, tensor-aware feedback in the notebook; a batch grader that never breaks."""

__version__ = "0.1.0"
