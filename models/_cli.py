"""``ecocube sdm`` command group: fit and predict SDMs on your own records, benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ecocube.models._cli_benchmark import app as benchmark_app

app = typer.Typer(help="Species distribution models.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@app.command("fit")
def fit(
    records: Annotated[
        Path,
        typer.Option(
            "--records",
            help="CSV, Parquet or GeoPackage with columns species (optional), kind "
            "(presence/background/survey), presence (0/1 on survey rows), the covariates and "
            "optional x, y, siteid, effort.",
        ),
    ],
    covariates: Annotated[
        str, typer.Option("--covariates", help="Comma-separated continuous covariate columns.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Model folder to write (atomically).")],
    categorical: Annotated[
        str | None,
        typer.Option("--categorical", help="Comma-separated categorical covariate columns."),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", help="Model type: integrated or maxent-net.")
    ] = "integrated",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    crs: Annotated[
        str | None,
        typer.Option("--crs", help="CRS of x/y (e.g. EPSG:4326); GeoPackages are reprojected."),
    ] = None,
    drop_na: Annotated[
        bool, typer.Option("--drop-na", help="Drop records with NaN covariates instead of failing.")
    ] = False,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", help="SVI steps (integrated) or epochs (maxent-net); default: the model's."
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
) -> None:
    """Fit a species distribution model to a records file and save it to a model folder."""
    from rich.console import Console

    from ecocube.models.estimator import SDM, check_model_target

    check_model_target(out)  # a bad --out fails before the fit, not after it
    options = {} if steps is None else {"epochs" if model == "maxent-net" else "steps": steps}
    sdm = SDM(
        model=model,
        covariates=_split(covariates),
        categorical=_split(categorical),
        seed=seed,
        drop_na=drop_na,
        device=device,
        options=options,
    )
    console = Console(stderr=True)
    console.print(f"fitting a {model} model on {records}")
    sdm.fit(records, crs=crs, progress=True)
    folder = sdm.save(out)
    mode = getattr(sdm.estimator_, "mode", model)
    console.print(
        f"fitted {model} ({mode}) model for {len(sdm.species_)} species from "
        f"{sum(sdm.kinds_.values())} records {sdm.kinds_}; saved to {folder}"
    )


@app.command("predict")
def predict(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by 'ecocube sdm fit'.")],
    sites: Annotated[
        Path, typer.Option("--sites", help="CSV, Parquet or GeoPackage of sites with covariates.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output table (.csv or .parquet): site, species, probability, sd, q05, q95.",
        ),
    ],
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
) -> None:
    """Predict detection probabilities (mean, sd, 5 % and 95 % quantiles) at new sites."""
    from rich.console import Console

    from ecocube.errors import InvalidInputError
    from ecocube.models.estimator import SDM

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInputError(
            f"--out {str(out)!r}: unsupported output type {suffix!r}; use .csv or .parquet."
        )
    sdm = SDM.load(model_dir, device=device)
    preds = sdm.predict(sites)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if suffix == ".csv":
        preds.to_csv(tmp, index=False)
    else:
        preds.to_parquet(tmp, index=False)
    tmp.replace(out)
    Console(stderr=True).print(
        f"wrote {len(preds)} predictions ({preds['species'].nunique()} species) to {out}"
    )
