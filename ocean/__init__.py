"""ecocube.ocean."""

__all__: list[str] = []
