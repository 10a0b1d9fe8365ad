"""Tests of course_lib.assertions: tensor-aware differences, assert_close, and comparisons an answer cannot fake."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import assertions
from course_lib.assertions import _checked_compare, _GuardCompares, _real_bool
from course_lib.assertions import assert_close, assert_shape, describe_difference


class Anything:
    "An answer that compares true with everything."

    def __eq__(self, other):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __contains__ = __eq__
    __hash__ = object.__hash__


def test_assertions_stand_alone():
    "Loaded fresh into every grading kernel: the standard library only, nothing from course_lib."
    assert not re.search(r'^\s*(from|import)\s+(\.|course_lib)', Path(assertions.__file__).read_text(), re.M)
    code = "import course_lib.assertions, sys; assert 'numpy' not in sys.modules and 'torch' not in sys.modules"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_describe_difference():
    msg = describe_difference(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 4.5]]))
    assert msg.startswith('got array shape (2, 2) dtype float64, expected shape (2, 2) dtype float64')
    assert 'max abs difference 0.5; 1 of 4 values differ' in msg and 'e.g. [1,1] got 4 expected 4.5' in msg
    assert describe_difference(np.zeros((2, 3)), np.zeros((3, 2))).endswith('shapes differ')
    assert describe_difference(3, 4) == 'got 3, expected 4'
    assert describe_difference('a' * 300, 'b') == f"got {repr('a' * 300)[:117]}..., expected 'b'"
    assert '2 of 2 values differ' in describe_difference(np.array(['a', 'b']), np.array(['c', 'd']))


def test_assert_close_and_assert_shape():
    assert_close([1.0, 2.0], np.array([1.0, 2.0 + 1e-7]))
    assert_close(0.1 + 0.2, 0.3)
    assert_close('abc', 'abc')
    with pytest.raises(AssertionError, match=r'^mean: got 1.0, expected 2'):
        assert_close(1.0, 2, msg='mean')
    with pytest.raises(AssertionError, match='shapes differ'):
        assert_close(np.zeros(3), np.zeros(4))
    assert_shape(np.zeros((4, 3)), (None, 3))
    with pytest.raises(AssertionError, match=r'got shape \(4, 3\), expected \(4, 4\)'):
        assert_shape(np.zeros((4, 3)), (4, 4))


def test_assert_close_needs_matching_kinds():
    import torch

    assert_close(torch.tensor(2.5), 2.5)
    assert_close(np.float64(1.0), 1)
    assert_close([1.0, 2.0], torch.tensor([1.0, 2.0]))
    assert_close(np.arange(3), [0, 1, 2])
    assert_close({'a': 1}, {'a': 1})
    with pytest.raises(AssertionError, match=r'got a tensor \(Tensor\), expected a numpy array \(ndarray\)'):
        assert_close(torch.ones(3), np.ones(3))
    with pytest.raises(AssertionError, match=r'got something else \(Anything\), expected a number'):
        assert_close(Anything(), 2.5)
    with pytest.raises(AssertionError, match='claims to equal anything'):
        assert_close(Anything(), Anything())
    with pytest.raises(AssertionError, match='expected a number'):
        assert_close(torch.ones(2), 1.0)


def test_real_truth_values():
    import torch

    assert _real_bool(True) is True and _real_bool(np.bool_(False)) is False
    assert _real_bool(np.array([True])) is True and _real_bool(torch.tensor(True)) is True
    assert _real_bool(np.array([True, True])) is None and _real_bool(torch.tensor([1, 1]) == 1) is None
    assert _real_bool('yes') is None and _real_bool(1) is None


def test_checked_compare_refuses_values_that_compare_true_with_anything():
    assert _checked_compare(6, 6, '==') and not _checked_compare(5, 6, '==') and _checked_compare(2, [1, 2], 'in')
    assert _checked_compare('b', 'abc', 'in') and _checked_compare(np.float64(2.5), 2.5, '==')
    cases = [
        ('==', Anything(), 6),
        ('==', 6, Anything()),
        ('<', Anything(), 3),
        ('in', 5, Anything()),
        ('in', Anything(), [6]),
    ]
    for op, a, b in cases:
        with pytest.raises(AssertionError, match='compares true with anything'):
            _checked_compare(a, b, op)
    with pytest.raises(AssertionError, match='not True or False'):
        _checked_compare(np.array([3, 3]), 3, '==')


def test_guard_compares_rewrites_only_an_asserts_own_comparison():
    src = "assert a == b, 'msg'\nassert (a == b).all()\nassert a == b == c\ndef f():\n    assert x == 1\nfor i in r:\n    assert i < 3"
    out = ast.unparse(_GuardCompares().visit(ast.parse(src)))
    assert "assert __course_cmp__(a, b, '=='), 'msg'" in out
    assert 'assert (a == b).all()' in out and 'assert a == b == c' in out and 'assert x == 1' in out
    assert "assert __course_cmp__(i, 3, '<')" in out
