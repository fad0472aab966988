"""``ecocube sdm`` command group: fit, predict and map SDMs on your own records, benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ecocube.models._cli_map import sdm_map
from ecocube.models.benchmark._cli import app as benchmark_app

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(help="Species distribution models.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")
app.command("map")(sdm_map)


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
            "optional x, y (or a GeoPackage geometry: spatial-block CV), siteid, effort. With "
            "--cube: x, y, species, kind (default presence) and presence only.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Model folder to write (atomically).")],
    covariates: Annotated[
        str | None,
        typer.Option(
            "--covariates",
            help="Comma-separated continuous covariate columns of the records (without --cube).",
        ),
    ] = None,
    categorical: Annotated[
        str | None,
        typer.Option(
            "--categorical",
            help="Comma-separated categorical covariate columns of the records (without --cube).",
        ),
    ] = None,
    cube: Annotated[
        Path | None,
        typer.Option(
            "--cube",
            help="Zarr cube to read the covariates from at the records' cells (records need "
            "only x/y; see --variables, --background, --drop-outside).",
        ),
    ] = None,
    variables: Annotated[
        str | None,
        typer.Option(
            "--variables",
            help="With --cube: comma-separated cube variables (default: every (y, x) "
            "variable; categorical ones, by their ecocube:kind, one-hot).",
        ),
    ] = None,
    patch_variables: Annotated[
        str | None,
        typer.Option(
            "--patch-variables",
            help="multimodal: comma-separated cube variables of the image patches (default: "
            "the covariates).",
        ),
    ] = None,
    patch_size: Annotated[
        int | None,
        typer.Option("--patch-size", help="multimodal: patch side in cube pixels (default 5)."),
    ] = None,
    background: Annotated[
        str | None,
        typer.Option(
            "--background",
            help="With --cube, background points besides the records' own: N random valid "
            "land cells (seeded by --seed) or target-group (every record's cell).",
        ),
    ] = None,
    drop_outside: Annotated[
        bool,
        typer.Option(
            "--drop-outside",
            help="With --cube: drop records outside the cube, on nodata cells or with "
            "impossible coordinates instead of failing (the counts are printed).",
        ),
    ] = False,
    mask: Annotated[
        str,
        typer.Option(
            "--mask",
            help="With --cube: cells random background may come from: land (default), none "
            "or a cube variable (its non-zero cells).",
        ),
    ] = "land",
    model: Annotated[
        str,
        typer.Option("--model", help="Model type: integrated, maxent-net or multimodal (--cube)."),
    ] = "integrated",
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    crs: Annotated[
        str | None,
        typer.Option(
            "--crs",
            help="CRS of x/y (e.g. EPSG:4326, the default with --cube); GeoPackages are "
            "reprojected.",
        ),
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
            "--steps",
            help="SVI steps (integrated) or epochs (maxent-net, multimodal); default: the model's.",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            help="Records per optimisation step (integrated: minibatch SVI, memory flat in the "
            "number of background points and surveys); default: the model's.",
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

    From a table, the records hold the covariate columns (--covariates, --categorical). With
    --cube the records need only x/y: the covariates are read from the cube at their cells
    (--variables), background cells are drawn from it (--background) and records it cannot
    place are an error, or dropped with --drop-outside.

    With x/y the records are split into square spatial blocks (1/5 of the extent) in
    --cv-folds folds; without, the split is random and the printed table says the CV is not
    spatial (multimodal: no cross-validation).
    """
    from rich.console import Console

    from ecocube.errors import InvalidInputError
    from ecocube.models.estimator import SDM, check_model_target, front_model

    if cube is not None and (covariates or categorical):
        raise InvalidInputError(
            "--covariates / --categorical name columns of a records table; with --cube the "
            "covariates are cube variables: choose them with --variables (e.g. --variables "
            f"{covariates or categorical})."
        )
    check_model_target(out)  # a bad --out fails before the fit, not after it
    options: dict[str, int] = {} if steps is None else {front_model(model).steps_option: steps}
    if batch_size is not None:
        options["batch_size"] = batch_size
    sdm = SDM(
        model=model,
        covariates=_split(covariates),
        categorical=_split(categorical),
        seed=seed,
        drop_na=drop_na,
        device=device,
        options=options,
        cv_folds=cv_folds,
        patch_variables=_split(patch_variables) if patch_variables else None,
        patch_size=patch_size,
    )
    console = Console(stderr=True, highlight=False)
    source = f"{records}" + (f" placed on {cube}" if cube is not None else "")
    console.print(f"fitting a {model} model on {source}", markup=False)
    sdm.fit(
        records,
        crs=crs,
        progress=True,
        cube=cube,
        variables=_split(variables) if variables else None,
        background=background,
        drop_outside=drop_outside,
        mask=mask,
    )
    folder = sdm.save(out)
    if sdm.cube_ is not None:
        placed = sdm.cube_
        if placed["dropped"]:
            console.print(
                f"dropped records that could not be placed on the cube (--drop-outside): "
                f"{placed['dropped']}",
                markup=False,
            )
        console.print(
            f"covariates from the cube: {', '.join(placed['variables'])}; background: "
            f"{placed['background']['source']} ({placed['background']['added']} cells added)",
            markup=False,
        )
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
