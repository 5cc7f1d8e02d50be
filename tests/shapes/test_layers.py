import pytest
import torch

from spacetime.errors import InputError
from spacetime.shapes.structures.layers import (
    ShapeLayers,
    compose_shape_layers,
    decompose_shape_layers,
    shape_layer_depths,
    shape_layer_masks,
)

R = 12


def _ball(r=R, radius=4.0):
    ax = torch.arange(r) + 0.5 - r / 2
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    return (x**2 + y**2 + z**2) < radius**2


def _hollow_box():
    g = torch.zeros(R, R, R, dtype=torch.bool)
    g[1:11, 1:11, 1:11] = True
    g[3:9, 3:9, 3:9] = False  # closed cavity
    return g


def _mug_with_content():
    g = torch.zeros(R, R, R, dtype=torch.bool)
    g[1:11, 1:11, 1:11] = True
    g[3:11, 3:9, 3:9] = False  # open towards +z: one layer can see into it
    g[5:7, 5:7, 5:7] = True  # something floating inside
    return g


def _naive_layer_mask(depths: torch.Tensor) -> torch.Tensor:
    """Slow reference: loop over voxels and test the three intervals."""
    r = depths.shape[-1]
    out = torch.zeros(r, r, r, dtype=torch.bool)
    d = depths.tolist()
    for z in range(r):
        for y in range(r):
            for x in range(r):
                out[z, y, x] = (
                    d[0][y][x] <= z < r - d[1][y][x]
                    and d[2][z][x] <= y < r - d[3][z][x]
                    and d[4][z][y] <= x < r - d[5][z][y]
                )
    return out


def test_masks_match_naive_reference():
    torch.manual_seed(0)
    depths = torch.randint(0, 7, (6, 8, 8))
    assert torch.equal(shape_layer_masks(depths), _naive_layer_mask(depths))


def test_convex_shape_needs_one_layer():
    layers = ShapeLayers.decompose(_ball())
    assert layers.num_layers().tolist() == [1]
    assert torch.equal(layers.compose()[0], _ball())


def test_hollow_box_and_filled_mug_need_two_layers():
    box, mug = _hollow_box(), _mug_with_content()
    layers = ShapeLayers.decompose(torch.stack([box, mug, _ball()]), max_layers=4)
    assert layers.num_layers().tolist() == [2, 2, 1]
    assert torch.equal(layers.compose(), torch.stack([box, mug, _ball()]))
    # with one layer fewer than needed the cavity is lost
    one = ShapeLayers.decompose(box, max_layers=1)
    assert torch.equal(one.compose()[0], _outer_box())


def _outer_box():
    g = torch.zeros(R, R, R, dtype=torch.bool)
    g[1:11, 1:11, 1:11] = True
    return g


def test_open_cup_is_one_layer_and_nested_cup_three():
    cup = _outer_box()
    cup[3:11, 3:9, 3:9] = False
    assert ShapeLayers.decompose(cup).num_layers().tolist() == [1]
    # cup in a closed box in a closed box: alternating add / subtract
    g = torch.zeros(R, R, R, dtype=torch.bool)
    g[0:12, 0:12, 0:12] = True
    g[1:11, 1:11, 1:11] = False
    g[3:9, 3:9, 3:9] = True
    layers = ShapeLayers.decompose(g)
    assert layers.num_layers().tolist() == [3]
    assert torch.equal(layers.compose()[0], g)
    masks = layers.masks()[0]
    assert bool((masks[1] <= masks[0]).all()) and bool((masks[2] <= masks[1]).all())  # nested


def test_random_grids_round_trip_with_enough_layers():
    torch.manual_seed(1)
    g = torch.rand(3, 6, 6, 6) < 0.3
    depths = decompose_shape_layers(g, max_layers=64)
    assert torch.equal(compose_shape_layers(depths), g)


def test_depths_layout_and_empty():
    g = torch.zeros(1, 4, 4, 4, dtype=torch.bool)
    g[0, 1, 2, 3] = True  # z=1, y=2, x=3
    d = shape_layer_depths(g)[0]
    assert d.shape == (6, 4, 4)
    assert (d[0, 2, 3], d[1, 2, 3]) == (1, 2)  # from z=0: 1, from z=3: 2
    assert (d[2, 1, 3], d[3, 1, 3]) == (2, 1)
    assert (d[4, 1, 2], d[5, 1, 2]) == (3, 0)
    assert int(d[0, 0, 0]) == 4 and int(d[1, 0, 0]) == 4  # empty ray
    empty = ShapeLayers.decompose(torch.zeros(4, 4, 4))
    assert empty.num_layers().tolist() == [0] and not empty.compose().any()
    assert "K=1" in repr(empty) and len(empty) == 1 and empty.resolution == 4


def test_float_grid_thresholded():
    g = _ball().float() * 0.9
    assert torch.equal(ShapeLayers.decompose(g).compose()[0], _ball())


def test_bad_inputs():
    with pytest.raises(InputError, match="grid: expected shape"):
        ShapeLayers.decompose(torch.zeros(1, 4, 4, 5))
    with pytest.raises(InputError, match="max_layers"):
        ShapeLayers.decompose(torch.zeros(4, 4, 4), max_layers=0)
    with pytest.raises(InputError, match="depths: expected shape"):
        ShapeLayers(torch.zeros(1, 1, 5, 4, 4))
    with pytest.raises(InputError, match=r"depths: expected values in \[0, 4\]"):
        ShapeLayers(torch.full((1, 1, 6, 4, 4), 9))
