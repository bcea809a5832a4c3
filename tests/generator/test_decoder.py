"""The hyper-convolutional decoder: shapes through the cascade for both output heads."""

import torch

from dnd.generator.decoder import HyperConvDecoder, stage_shapes
from dnd.generator.build import principal_directions


def test_stage_shapes_move_from_condition_to_tokens():
    shapes = stage_shapes((128, 16, 24), (1590, 8, 194), (64, 64))
    assert shapes[0] == (128, 16, 24) and shapes[-1] == (1590, 8, 194)
    assert [c for c, _, _ in shapes[1:-1]] == [64, 64]
    hs, ws = [h for _, h, _ in shapes], [w for _, _, w in shapes]
    assert hs == sorted(hs, reverse=True) and ws == sorted(ws)


def test_conv_output_head_shape_and_bias():
    dec = HyperConvDecoder((8, 4, 6), (10, 2, 7), hidden_channels=(5,), n_basis=0)
    mean = torch.randn(10, 2, 7)
    dec.init_output_bias(mean)
    out = dec(torch.randn(3, 8, 4, 6))
    assert out.shape == (3, 10, 2, 7)
    assert not hasattr(dec, "basis")


def test_basis_head_spans_the_zoo():
    torch.manual_seed(0)
    tokens = torch.randn(6, 10, 2, 7)  # six "checkpoints"
    mean = tokens.mean(0)
    dirs = principal_directions(tokens - mean, 4)
    assert dirs.shape == (4, 10, 2, 7)
    flat = dirs.reshape(4, -1)
    cos = torch.nn.functional.normalize(flat, dim=1) @ torch.nn.functional.normalize(flat, dim=1).T
    assert torch.allclose(cos, torch.eye(4), atol=1e-4)  # orthogonal directions
    dec = HyperConvDecoder((8, 4, 6), (10, 2, 7), hidden_channels=(5,), n_basis=4)
    dec.init_output_bias(mean)
    dec.init_basis(dirs)
    with torch.no_grad():
        dec.coef.weight.zero_()
        dec.coef.bias.zero_()
        assert torch.allclose(dec(torch.randn(2, 8, 4, 6)), mean.expand(2, -1, -1, -1))  # zero coefficients: the mean
        dec.coef.bias[1] = 1.0
        assert torch.allclose(dec(torch.randn(1, 8, 4, 6))[0], mean + dirs[1])
