"""Bad arguments never reach a kernel: each raises with the argument's name, expected and got."""

from __future__ import annotations

import numpy as np
import pytest

import kernels

X1 = np.zeros((2, 4, 5), np.float32)
W1 = np.zeros((4, 3, 3), np.float32)
X3 = np.zeros((2, 4, 3, 3, 3), np.float32)
W3 = np.zeros((4, 3, 2, 2, 2), np.float32)


def call1(**overrides):
    args = dict(input=X1, weight=W1, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1)
    args.update(overrides)
    return kernels.conv_transpose1d(**args)


@pytest.mark.parametrize("overrides, error, pattern", [
    (dict(input=np.zeros((4,), np.float32)), ValueError, r"input: expected a 2-D \(unbatched\) or 3-D"),
    (dict(input=np.zeros((1, 2, 4, 5), np.float32)), ValueError, "input: expected"),
    (dict(weight=np.zeros((4, 3), np.float32)), ValueError, r"weight: expected a 3-D array"),
    (dict(weight=np.zeros((5, 3, 3), np.float32)), ValueError, r"weight: expected 4 input channels"),
    (dict(groups=3), ValueError, r"groups: expected a divisor of the input's 4 channels, got 3"),
    (dict(groups=0), ValueError, r"groups: expected a positive int, got 0"),
    (dict(stride=0), ValueError, r"stride: expected values >= 1, got 0"),
    (dict(dilation=0), ValueError, r"dilation: expected values >= 1, got 0"),
    (dict(padding=-1), ValueError, r"padding: expected values >= 0, got -1"),
    # kernel 3 here; with kernel 1 a huge dilation changes nothing, but torch refuses it (32-bit ints): so do we
    (dict(dilation=2**31), ValueError, r"dilation: expected values below 2\*\*31 \(as torch\)"),
    (dict(output_padding=1), ValueError, r"output_padding: expected each value smaller than stride or dilation"),
    (dict(stride=2, output_padding=2), ValueError, r"output_padding"),
    (dict(stride=(1, 1)), ValueError, r"stride: expected an int or a tuple of 1 ints"),
    (dict(stride=1.5), TypeError, r"stride: expected an int"),
    (dict(padding=5), ValueError, r"output size .* would be below 1"),
    (dict(input=X1.astype(np.int32)), TypeError, r"input: expected dtype float32 or float64, got int32"),
    (dict(input=X1.astype(np.float16)), TypeError, r"input: expected dtype float32 or float64, got float16"),
    (dict(weight=W1.astype(np.float64)), TypeError,
     r"weight: expected dtype float32 \(the input's dtype\), got float64"),
    (dict(bias=np.zeros(4, np.float32)), ValueError, r"bias: expected shape \(3,\)"),
    (dict(bias=np.zeros(3, np.float64)), TypeError, r"bias: expected dtype float32"),
    (dict(input=np.zeros((2, 0, 5), np.float32)), ValueError, r"input: expected non-zero sizes"),
    (dict(input=np.zeros((2, 4, 0), np.float32)), ValueError, r"input: expected non-zero sizes"),
])
def test_bad_arguments_1d(overrides, error, pattern):
    with pytest.raises(error, match=pattern):
        call1(**overrides)


def test_bad_target():
    with pytest.raises(ValueError, match=r"target: expected one of \('cpu', 'cuda'\), got 'tpu'"):
        kernels.conv_transpose1d(X1, W1, target="tpu")


@pytest.mark.parametrize("overrides, pattern", [
    (dict(input=np.zeros((4, 3, 3), np.float32)), r"input: expected a 4-D \(unbatched\) or 5-D"),
    (dict(stride=(1, 2)), r"stride: expected an int or a tuple of 3 ints"),
    (dict(output_padding=(0, 0, 1)), r"output_padding"),
    (dict(weight=np.zeros((4, 3, 2, 2), np.float32)), r"weight: expected a 5-D array"),
])
def test_bad_arguments_3d(overrides, pattern):
    args = dict(input=X3, weight=W3)
    args.update(overrides)
    with pytest.raises(ValueError, match=pattern):
        kernels.conv_transpose3d(**args)


def test_backward_checks_grad_output():
    with pytest.raises(ValueError, match=r"grad_output: expected the output's shape \(2, 3, 7\), got \(2, 3, 6\)"):
        kernels.conv_transpose1d_backward(np.zeros((2, 3, 6), np.float32), X1, W1)
    with pytest.raises(TypeError, match=r"grad_output: expected dtype float32"):
        kernels.conv_transpose1d_backward(np.zeros((2, 3, 7), np.float64), X1, W1)
    with pytest.raises(ValueError, match=r"output_mask: expected 3 booleans"):
        kernels.conv_transpose1d_backward(np.zeros((2, 3, 7), np.float32), X1, W1, output_mask=(True,))


def test_output_size_rule():
    assert kernels.output_size(64, 4, 2, 1) == 128
    assert kernels.output_size(200, 16, 8, 4) == 1600
    assert kernels.output_size(5, 3, 3, 2, 1, 2) == (5 - 1) * 3 - 4 + 2 * 2 + 1 + 1


@pytest.mark.parametrize("bad, error", [(True, TypeError), (2.0, TypeError), ((True,), TypeError),
                                        (np.int64(0), ValueError)])
def test_checks_are_not_skipped_by_the_geometry_cache(bad, error):
    """The shape-level checks are cached per argument values; a value equal to a valid, cached one (True == 1,
    2.0 == 2) is still refused, and a refused call is refused again."""
    for _ in range(2):
        call1(stride=1)
        call1(stride=2)
        call1(stride=(1,))
        with pytest.raises(error, match="stride"):
            call1(stride=bad)
    for _ in range(2):
        with pytest.raises(ValueError, match="groups: expected a divisor"):
            call1(groups=3)


def test_cached_and_uncached_checks_give_one_geometry():
    from kernels._args import check_conv_transpose

    args = (np.zeros((2, 4, 5), np.float32), np.zeros((4, 3, 3), np.float32), np.zeros(6, np.float32))
    plain = check_conv_transpose(1, *args, 2, 1, 1, 2, 1, "cpu")[3]
    numpy_ints = check_conv_transpose(1, *args, np.int64(2), [1], (np.int32(1),), 2, 1, "cpu")[3]
    assert plain == numpy_ints
    assert (plain.c_out, plain.out_size, plain.stride) == (6, (1, 1, 10), (1, 1, 2))


def test_geometry_from_shapes_alone_allocates_nothing():
    # 10,000 x 512 x 64^3 float32 would be 5 TB: a geometry is shapes and ints only
    g = kernels.geometry(3, (10_000, 512, 64, 64, 64), (512, 256, 4, 4, 4), stride=2, padding=1)
    assert g.output_shape == (10_000, 256, 128, 128, 128)
    with pytest.raises(ValueError, match="weight: expected 4 input channels"):
        kernels.geometry(1, (2, 4, 5), (5, 3, 3))
