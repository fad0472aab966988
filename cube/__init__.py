"""ecocube.cube."""

__all__: list[str] = []
