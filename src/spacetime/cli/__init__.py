"""The ``spacetime`` command line. Each submodule adds its subcommands through ``register``."""

__all__: list[str] = []
