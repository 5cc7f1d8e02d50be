"""Full-scale recipes: one per paper result (Mesh R-CNN on R2N2 and Pix3D, Pixel2Mesh and the
voxel / point / occupancy baselines on R2N2, PointNet on ModelNet40, C3D and the fusion models
and the two-stream network on UCF101, RAFT fine-tuning).

A recipe is a :class:`Recipe` record in ``spacetime/recipes/catalog/<name>.py`` (installed with
the package): the data preparation, the full-size ``train`` / ``evaluate`` arguments of
:mod:`spacetime.api`, the paper's numbers with a tolerance, and a GPU-hour estimate.
:func:`load_recipe` is the one loader; :func:`run_recipe` trains, evaluates with the paper's
protocol and compares::

    from spacetime.recipes import load_recipe, run_recipe

    recipe = load_recipe("pointnet-modelnet40")
    print(recipe.prepare)                      # where to download what, the folder layout
    run = run_recipe("pointnet-modelnet40", "data/ModelNet40", out="runs/pointnet")
    print(run)                                 # ours vs the paper, one row per number

``spacetime recipe list`` / ``spacetime recipe run NAME --data DIR [--gpus N]`` call the same
functions (docs/recipes.md).
"""

from spacetime.recipes._recipe import (
    RecipeRun,
    compare,
    describe,
    format_command,
    launch_commands,
    list_recipes,
    load_recipe,
    metric_value,
    missing_flow,
    prepare_flow_cache,
    recipe_arguments,
    recipe_names,
    recipe_table,
    run_recipe,
    torchrun_command,
)
from spacetime.recipes.record import FAMILIES, Recipe, Target

__all__ = [
    "FAMILIES",
    "Recipe",
    "RecipeRun",
    "Target",
    "compare",
    "describe",
    "format_command",
    "launch_commands",
    "list_recipes",
    "load_recipe",
    "metric_value",
    "missing_flow",
    "prepare_flow_cache",
    "recipe_arguments",
    "recipe_names",
    "recipe_table",
    "run_recipe",
    "torchrun_command",
]
