"""``ecocube sdm`` command group: fit and predict SDMs on your own records, benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ecocube.models.benchmark._cli import app as benchmark_app

if TYPE_CHECKING:
    from rich.console import Console

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
            "optional x, y (or a GeoPackage geometry: spatial-block CV), siteid, effort.",
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
        bool,
        typer.Option(
            "--drop-na",
            help="Drop records with a NaN or infinite (inf/-inf) covariate instead of failing "
            "(records without x/y are kept; the CV is then not spatial).",
        ),
    ] = False,
    steps: Annotated[
        int | None,
        typer.Option(
            "--steps", help="SVI steps (integrated) or epochs (maxent-net); default: the model's."
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or auto.")] = "cpu",
    cv_folds: Annotated[
        int,
        typer.Option(
            "--cv-folds",
            help="Folds of the cross-validation (spatial blocks with x/y, else random): fold 0 "
            "is the early-stopping validation split; held-out AUC per species is printed and "
            "saved. 0 skips it.",
        ),
    ] = 3,
) -> None:
    """Fit a species distribution model to a records file and save it to a model folder.

    With x/y the records are split into square spatial blocks (1/5 of the extent) in
    --cv-folds folds; without, the split is random and the printed table says the CV is not
    spatial.
    """
    from rich.console import Console

    from ecocube.models.estimator import SDM, check_model_target, table_model

    check_model_target(out)  # a bad --out fails before the fit, not after it
    options = {} if steps is None else {table_model(model).steps_option: steps}
    sdm = SDM(
        model=model,
        covariates=_split(covariates),
        categorical=_split(categorical),
        seed=seed,
        drop_na=drop_na,
        device=device,
        options=options,
        cv_folds=cv_folds,
    )
    console = Console(stderr=True, highlight=False)
    console.print(f"fitting a {model} model on {records}", markup=False)
    sdm.fit(records, crs=crs, progress=True)
    folder = sdm.save(out)
    mode = getattr(sdm.estimator_, "mode", model)
    if sdm.n_dropped_:
        console.print(
            f"dropped {sdm.n_dropped_} records with NaN or infinite covariates (--drop-na)",
            markup=False,
        )
    _print_validation(console, sdm.validation_)
    console.print(
        f"fitted {model} ({mode}) model for {len(sdm.species_)} species from "
        f"{sum(sdm.kinds_.values())} records {sdm.kinds_}; saved to {folder}",
        markup=False,
    )


def _print_validation(console: Console, info: dict[str, Any], max_rows: int = 20) -> None:
    """The split, the early-stopping outcome and the held-out AUC per species."""
    from rich.table import Table
    from rich.text import Text

    console.print(info.get("note", ""), markup=False)
    stop = info.get("early_stopping")
    if stop:
        console.print(
            f"early stopping on fold 0: best after {stop['best_step']} of at most "
            f"{info['max_steps']} {info['unit']} (stopped after {stop['steps_run']}); final "
            f"model refitted on all records for {info['final_steps']}",
            markup=False,
        )
    scores = info.get("cv_auc") or {}
    if not scores:
        return
    kind = "spatial-block" if info.get("spatial") else "random-split (NOT spatial)"
    table = Table(
        title=f"{kind} CV AUC, held-out folds: {info['folds_scored']} of {info['n_folds']}"
    )
    for col in ("species", "AUC", "held-out presences", "folds", "basis"):
        table.add_column(col, justify="left" if col in ("species", "basis") else "right")
    for name, row in list(scores.items())[:max_rows]:
        auc = "skipped (< 2)" if row["auc"] is None else f"{row['auc']:.3f}"
        table.add_row(Text(name), auc, str(row["n_presences"]), str(row["folds"]), row["basis"])
    console.print(table)
    if len(scores) > max_rows:
        console.print(
            f"... {len(scores) - max_rows} more species in manifest.json (validation.cv_auc)",
            markup=False,
        )
    if info.get("mean_auc") is not None:
        console.print(
            f"mean held-out AUC over scored species: {info['mean_auc']:.3f}", markup=False
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
    drop_na: Annotated[
        bool,
        typer.Option(
            "--drop-na",
            help="Skip sites with a NaN or infinite (inf/-inf) covariate instead of failing; "
            "they are absent from the output (their row number / siteid is missing).",
        ),
    ] = False,
) -> None:
    """Predict detection probabilities (mean, sd, 5 % and 95 % quantiles) at new sites."""
    from rich.console import Console

    from ecocube._atomic import check_output_file, write_file_atomic
    from ecocube.errors import InvalidInputError
    from ecocube.models.estimator import SDM
    from ecocube.models.records import read_table

    check_output_file(out)  # a bad --out fails before the work
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInputError(
            f"--out {str(out)!r}: unsupported output type {suffix!r}; use .csv or .parquet."
        )
    sdm = SDM.load(model_dir, device=device)
    table = read_table(sites, crs=sdm.crs_)
    preds = sdm.predict(table, drop_na=drop_na)
    if suffix == ".csv":
        write_file_atomic(out, lambda tmp: preds.to_csv(tmp, index=False))
    else:
        write_file_atomic(out, lambda tmp: preds.to_parquet(tmp, index=False))
    console = Console(stderr=True, highlight=False)
    n_species = len(sdm.species_)
    dropped = len(table) - len(preds) // max(n_species, 1)
    if drop_na:
        console.print(
            f"dropped {dropped} of {len(table)} sites with NaN or infinite covariates "
            "(--drop-na); they are absent from the output",
            markup=False,
        )
    console.print(
        f"wrote {len(preds)} predictions ({n_species} species, {len(table) - dropped} sites) "
        f"to {out}",
        markup=False,
    )
