"""ecocube.models."""

__all__: list[str] = []
