"""The contract between the catalog builder and the per-family item builders."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pystac

from ecocube.catalog._assets import AssetFile, link_or_copy

__all__ = ["BuildContext", "Family"]


@dataclass(frozen=True)
class BuildContext:
    """What an item builder receives for one registry dataset.

    Attributes
    ----------
    dataset
        Registry name (e.g. ``"chelsa_costa_rica"``).
    folder
        Verified local folder of the dataset (from :func:`ecocube.data.fetch`).
    files
        Registry files by relative path, with checksum and size.
    collection_dir
        Folder of the collection inside the catalog being written.
    """

    dataset: str
    folder: Path
    files: dict[str, AssetFile]
    collection_dir: Path

    def place(self, item_id: str, relpath: str) -> tuple[AssetFile, str]:
        """Put registry file ``relpath`` next to item ``item_id``; return it and its href."""
        file = self.files[relpath]
        name = Path(relpath).name
        link_or_copy(file.source, self.collection_dir / item_id / name)
        return file, f"./{name}"

    def path(self, relpath: str) -> Path:
        """Local path of a registry file (in the cache)."""
        return self.files[relpath].source


@dataclass(frozen=True)
class Family:
    """One collection: its metadata and the builder of its items.

    Attributes
    ----------
    collection_id
        Stable STAC id of the collection.
    dataset
        Registry dataset the items come from.
    title, description, license, keywords
        Collection metadata.
    build_items
        ``build_items(ctx) -> list[pystac.Item]``.
    """

    collection_id: str
    dataset: str
    title: str
    description: str
    license: str
    keywords: tuple[str, ...]
    build_items: Callable[[BuildContext], list[pystac.Item]]
    providers: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
