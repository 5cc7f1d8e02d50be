"""The recipe catalogue: one module per paper result, each defining ``RECIPE`` (a
:class:`spacetime.recipes.Recipe`); the module name is the recipe name with ``_`` for ``-``.
Read them with :func:`spacetime.recipes.load_recipe`."""

__all__: list[str] = []
