"""STAC catalog of the registry datasets: build, validate, serve (STAC API) and search."""

__all__: list[str] = []
