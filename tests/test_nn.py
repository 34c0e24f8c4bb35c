"""gen_media.nn layers: torch's module API on both backends, gradcheck, checkpoints across backends."""

from __future__ import annotations

import pytest
import torch

from gen_media.nn import ConvTranspose1d, ConvTranspose3d, functional, set_backend

LAYERS = {1: (ConvTranspose1d, torch.nn.ConvTranspose1d), 3: (ConvTranspose3d, torch.nn.ConvTranspose3d)}
CONFIGS = [
    dict(in_channels=4, out_channels=6, kernel_size=4, stride=2, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=3, padding=2, output_padding=1, groups=2,
         dilation=2, bias=False),
]


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_same_init_and_state_dict_as_torch(nd, cfg):
    ours_cls, torch_cls = LAYERS[nd]
    torch.manual_seed(0)
    ours = ours_cls(**cfg, backend="numba")
    torch.manual_seed(0)
    theirs = torch_cls(**cfg)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for k, v in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[k], v), k


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_numba_backend_matches_torch_forward_and_grads(nd, cfg):
    cls = LAYERS[nd][0]
    torch.manual_seed(0)
    a = cls(**cfg, backend="torch")
    b = cls(**cfg, backend="numba")
    b.load_state_dict(a.state_dict())  # a checkpoint moves between backends
    x = torch.randn((2, 4) + (5,) * nd if nd == 1 else (2, 4, 3, 4, 5))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = a(xa), b(xb)
    torch.testing.assert_close(yb, ya, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-5)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pb.grad, pa.grad, rtol=1e-4, atol=1e-4, msg=name)


@pytest.mark.parametrize("nd", [1, 3])
def test_autograd_only_where_a_gradient_is_wanted(nd, monkeypatch):
    """Calls that need no gradient skip autograd's bookkeeping; any one tensor that wants a gradient brings it
    back, the input being data and only the layer's parameters learning included."""
    cls = LAYERS[nd][0]
    torch.manual_seed(0)
    a, b = cls(**CONFIGS[0], backend="torch"), cls(**CONFIGS[0], backend="numba")
    b.load_state_dict(a.state_dict())
    x = torch.randn((2, 4, 5) if nd == 1 else (2, 4, 3, 4, 5))
    with monkeypatch.context() as m, torch.no_grad():
        m.setattr(functional._ConvTranspose, "apply", None)  # generation must not go through autograd's Function
        y = b(x)
    assert y.grad_fn is None and not y.requires_grad
    torch.testing.assert_close(y, a(x).detach(), rtol=1e-4, atol=1e-5)
    ya, yb = a(x), b(x)  # the data needs no gradient, the weight and bias do
    assert yb.requires_grad
    ya.sum().backward()
    yb.sum().backward()
    torch.testing.assert_close(b.weight.grad, a.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b.bias.grad, a.bias.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_gradcheck_float64(nd, cfg):
    layer = LAYERS[nd][0](**cfg, backend="numba").double()
    x = torch.randn((2, 4, 3) if nd == 1 else (1, 4, 2, 2, 3), dtype=torch.float64, requires_grad=True)
    params = tuple(p for p in (layer.weight, layer.bias) if p is not None)

    def f(x, *p):
        return functional.conv_transpose1d(x, *p, **_conv_args(layer)) if nd == 1 else \
            functional.conv_transpose3d(x, *p, **_conv_args(layer))

    assert torch.autograd.gradcheck(f, (x, *params))


def _conv_args(layer):
    return dict(stride=layer.stride, padding=layer.padding, output_padding=layer.output_padding,
                groups=layer.groups, dilation=layer.dilation)


def test_output_size_argument_and_unbatched_input():
    layer = ConvTranspose1d(3, 2, 4, stride=3, backend="numba")
    ref = torch.nn.ConvTranspose1d(3, 2, 4, stride=3)
    ref.load_state_dict(layer.state_dict())
    x = torch.randn(1, 3, 5)
    y = layer(x, output_size=[17])
    assert y.shape == (1, 2, 17)
    torch.testing.assert_close(y, ref(x, output_size=[17]))
    torch.testing.assert_close(layer(x[0]), ref(x[0]))


def test_set_backend_and_repr():
    model = torch.nn.Sequential(ConvTranspose1d(2, 2, 4, 2, 1), torch.nn.ReLU(), ConvTranspose1d(2, 1, 4, 2, 1))
    set_backend(model, "numba")
    assert all(m.backend == "numba" for m in model if isinstance(m, ConvTranspose1d))
    assert "backend='numba'" in repr(model)
    with pytest.raises(ValueError, match=r"backend: expected one of \('torch', 'numba'\), got 'cudnn'"):
        set_backend(model, "cudnn")
    with pytest.raises(ValueError, match="backend"):
        ConvTranspose3d(2, 2, 2, backend="jax")


def test_half_precision_is_refused_on_numba():
    layer = ConvTranspose1d(2, 2, 3, backend="numba")
    with pytest.raises(TypeError, match="float32 or float64"):
        layer.to(torch.bfloat16)(torch.randn(1, 2, 4, dtype=torch.bfloat16))


def test_weight_on_another_device_is_refused_on_numba():
    """torch refuses a weight on another device than the input; the numba backend must too, not copy it silently
    (the meta device stands in for a GPU here)."""
    from gen_media.nn.functional import conv_transpose1d

    x = torch.randn(1, 2, 4)
    with pytest.raises(ValueError, match=r"weight: expected a tensor on the input's device cpu, got meta"):
        conv_transpose1d(x, torch.empty(2, 2, 3, device="meta"), backend="numba")
    with pytest.raises(ValueError, match=r"bias: expected a tensor on the input's device cpu, got meta"):
        conv_transpose1d(x, torch.randn(2, 2, 3), torch.empty(2, device="meta"), backend="numba")
