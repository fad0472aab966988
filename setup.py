"""Map the repository's top-level folders onto the ``ecocube`` import namespace.

The repository shows the architecture at its top level (``core/``, ``catalog/``, ``cube/``,
``models/``, ``ocean/``, ``demo/``), while installed code lives under one name so that nothing called
``models`` or ``catalog`` lands at the top of a user's site-packages.
"""

from setuptools import find_packages, setup

ROOTS = {
    "ecocube": "core",
    "ecocube.catalog": "catalog",
    "ecocube.cube": "cube",
    "ecocube.models": "models",
    "ecocube.ocean": "ocean",
    "ecocube.demo": "demo",
}

packages: list[str] = []
package_dir: dict[str, str] = {}
for name, folder in ROOTS.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(folder):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(
    packages=packages,
    package_dir=package_dir,
    package_data={name: ["*.json", "*.toml", "*.html", "*.css", "py.typed"] for name in packages},
    include_package_data=True,
)
