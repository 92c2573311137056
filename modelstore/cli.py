"""`modelstore` CLI: a thin click layer over `modelstore.api.ModelStore`.

Exit codes (only here, through `cliexit`): 0 ok; 1 domain error (not found, integrity, conflict,
storage down); 2 usage or configuration error (bad flags, argument values the store refuses:
names, refs, metrics, files; no or contradictory store settings); 3 unexpected (`--traceback`
shows it); 130 interrupted.

Why one module over 450 lines: model and dataset commands share the option parsing and output
helpers defined here; the `dataset` group is the part to move out first if it grows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cliexit import EXIT_ERROR, EXIT_USAGE, ErrorCodes, run_click
from modelstore.api import DEFAULT_CONTAINER, ModelStore
from modelstore.datasets import DATASET_FRAMEWORK
from modelstore.errors import (
    ConfigurationError,
    InvalidInputError,
    ManifestCorruptError,
    ModelNotFoundError,
    ModelStoreError,
)
from modelstore.manifest import Manifest
from modelstore.progress import for_terminal
from modelstore.state import AliasEvent
from modelstore.terminal import printable

if TYPE_CHECKING:
    from modelstore.evaluation import Evaluation

# The store's exceptions and their exit codes (first match wins); the rest is cliexit's.
KIND_KEY = "modelstore.kind"  # ctx.meta: which registry the shared commands act on

ERROR_CODES: ErrorCodes = {
    InvalidInputError: EXIT_USAGE,  # a bad argument value: a usage error
    ConfigurationError: EXIT_USAGE,
    ModelStoreError: EXIT_ERROR,
}


@dataclass
class Settings:
    connection_string: str | None
    account_url: str | None
    container: str
    _store: ModelStore | None = None

    def store(self) -> ModelStore:
        if self._store is None:
            if self.connection_string and self.account_url:
                raise ConfigurationError("give either a connection string or an account URL")
            if self.connection_string:
                self._store = ModelStore.from_connection_string(
                    self.connection_string, self.container
                )
            elif self.account_url:
                self._store = ModelStore.from_account_url(self.account_url, self.container)
            else:
                raise ConfigurationError(
                    "no model store configured: set AZURE_STORAGE_CONNECTION_STRING or "
                    "MODELSTORE_ACCOUNT_URL (or pass --account-url)"
                )
        return self._store


def _store(ctx: click.Context) -> ModelStore:
    """The model registry, or the dataset registry under `modelstore dataset ...`."""
    settings = ctx.find_object(Settings)
    assert settings is not None  # noqa: S101 - the group always creates it
    store = settings.store()
    return store.datasets if ctx.meta.get(KIND_KEY) == "dataset" else store


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _manifest_json(manifest: Manifest) -> dict[str, Any]:
    return manifest.model_dump(mode="json")


def _entry_json(entry: Manifest | ManifestCorruptError) -> dict[str, Any]:
    if isinstance(entry, ManifestCorruptError):
        return {"name": entry.name, "version": entry.version, "corrupt": entry.reason}
    return _manifest_json(entry)


def _event_json(event: AliasEvent) -> dict[str, Any]:
    return event.model_dump(mode="json")


def _pairs(option: str, values: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=option)
        result[key] = value
    return result


def _parse_metrics(_ctx: click.Context, _param: click.Parameter, values: Sequence[str]) -> Any:
    metrics: dict[str, float] = {}
    for key, raw in _pairs("--metric", values).items():
        try:
            number = float(raw)
        except ValueError:
            raise click.BadParameter(
                f"{key}={raw!r} is not a number", param_hint="--metric"
            ) from None
        if not math.isfinite(number):
            raise click.BadParameter(f"{key}={raw!r} is not finite", param_hint="--metric")
        metrics[key] = number
    return metrics


def _parse_tags(_ctx: click.Context, _param: click.Parameter, values: Sequence[str]) -> Any:
    return _pairs("--tag", values)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
quiet_option = click.option(
    "--quiet", "-q", is_flag=True, help="No progress bars or notes (bars show only on a terminal)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--connection-string",
    envvar="AZURE_STORAGE_CONNECTION_STRING",
    help="Storage connection string (Azurite/local). Prefer the env var: flags show in `ps`.",
    show_envvar=True,
)
@click.option(
    "--account-url",
    envvar="MODELSTORE_ACCOUNT_URL",
    help="https://<account>.blob.core.windows.net (uses DefaultAzureCredential).",
    show_envvar=True,
)
@click.option(
    "--container", envvar="MODELSTORE_CONTAINER", default=DEFAULT_CONTAINER, show_default=True
)
@click.pass_context
def cli(
    ctx: click.Context,
    connection_string: str | None,
    account_url: str | None,
    container: str,
) -> None:
    """Register, find, alias and fetch verified model versions in Azure Blob Storage."""
    ctx.obj = Settings(connection_string or None, account_url or None, container)


def _registration(func: Any) -> Any:
    """The arguments and options of `register`, for models and datasets alike."""
    decorators: list[Callable[[Any], Any]] = [
        click.argument("name"),
        click.argument("path", type=click.Path(path_type=Path)),
        click.option("--tag", "tags", multiple=True, callback=_parse_tags, metavar="K=V"),
        click.option("--description"),
        click.option("--alias", help="Also point this alias at the new version."),
        click.option("--author", help="Defaults to $MODELSTORE_AUTHOR or the login name."),
        click.option("--git-commit", help="Commit of the code that made it."),
        json_option,
        quiet_option,
        click.pass_context,
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@cli.command()
@click.option("--metric", "metrics", multiple=True, callback=_parse_metrics, metavar="K=V")
@_registration
def register(ctx: click.Context, as_json: bool, **options: Any) -> None:
    """Register PATH (an ONNX file or a directory) as the next version of NAME."""
    _register(ctx, as_json, options)


def _register(ctx: click.Context, as_json: bool, options: dict[str, Any]) -> None:
    quiet = options.pop("quiet")
    with for_terminal(as_json=as_json, quiet=quiet) as progress:
        manifest = _store(ctx).register(**options, progress=progress)
    if as_json:
        _emit_json(_manifest_json(manifest))
        return
    click.echo(str(manifest.version))
    if manifest.framework == DATASET_FRAMEWORK:
        what, detail = f"dataset {manifest.name}", _summary(manifest)
    else:
        signature = manifest.signature.input_key() if manifest.signature else "none"
        what, detail = manifest.name, f"signature {signature}"
    click.echo(
        f"registered {what} v{manifest.version} ({manifest.primary} sha256 "
        f"{manifest.primary_sha256}, {detail})",
        err=True,
    )


@cli.command("list")
@click.argument("name", required=False)
@json_option
@click.pass_context
def list_(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """List the models (the sets, under `dataset`), or the versions of NAME."""
    store = _store(ctx)
    if name is None:
        models = [(m, _latest_or_none(store, m), store.get_aliases(m)) for m in store.list_models()]
        if as_json:
            _emit_json([{"name": m, "latest": v, "aliases": a} for m, v, a in models])
            return
        for model, latest, aliases in models:
            shown = " ".join(f"@{a}={v}" for a, v in aliases.items())
            click.echo(f"{model}\tlatest={latest}\t{shown}".rstrip())
        return
    entries = store.list_version_entries(name)
    corrupt = [e for e in entries if isinstance(e, ManifestCorruptError)]
    for bad in corrupt:
        click.echo(f"warning: {bad}", err=True)
    if corrupt:
        click.echo(f"warning: {len(corrupt)} version(s) of {name} listed as corrupt", err=True)
    if as_json:
        _emit_json([_entry_json(e) for e in entries])
        return
    by_version: dict[int, list[str]] = {}
    for alias, version in store.get_aliases(name).items():
        by_version.setdefault(version, []).append(f"@{alias}")
    for m in entries:
        if isinstance(m, ManifestCorruptError):
            click.echo(f"{m.version}\t-\t-\t\tcorrupt manifest: {m.reason}")
            continue
        metrics = _summary(m)
        flags = " ".join([*by_version.get(m.version, []), *(["archived"] if m.archived else [])])
        click.echo(
            f"{m.version}\t{m.created_at:%Y-%m-%dT%H:%M:%SZ}\t{m.primary_sha256[:12]}"
            f"\t{metrics}\t{flags}".rstrip()
        )


def _summary(manifest: Manifest) -> str:
    """The list column: a model's claimed metrics, a dataset's size."""
    if manifest.framework == DATASET_FRAMEWORK and manifest.signature is not None:
        shape = manifest.signature.inputs[0].shape or []
        return "rows=" + "x".join(str(d) for d in shape)
    return " ".join(f"{k}={v:g}" for k, v in sorted(manifest.metrics.items()))


def _latest_or_none(store: ModelStore, name: str) -> int | None:
    """A folder without an index (a first registration that never finished) lists as None."""
    try:
        return store.latest_version(name)
    except ModelNotFoundError:
        return None


@cli.command()
@click.argument("name")
@click.argument("ref")
@json_option
@click.pass_context
def show(ctx: click.Context, name: str, ref: str, as_json: bool) -> None:
    """Show the manifest of NAME at REF (a version, `latest` or `@alias`)."""
    manifest = _store(ctx).resolve(name, ref)
    if as_json:
        _emit_json(_manifest_json(manifest))
        return
    lines = [
        f"name:        {manifest.name}",
        f"version:     {manifest.version}{'  (archived)' if manifest.archived else ''}",
        f"created_at:  {manifest.created_at.isoformat()}",
        f"author:      {printable(manifest.author or '-')}",
        f"git_commit:  {manifest.git_commit or '-'}",
        f"framework:   {manifest.framework}",
        f"primary:     {manifest.primary} sha256 {manifest.primary_sha256}",
        f"signature:   {manifest.signature.input_key() if manifest.signature else '-'}",
        *(f"metric:      {k}={v:g}" for k, v in sorted(manifest.metrics.items())),
        *(f"tag:         {k}={printable(v)}" for k, v in sorted(manifest.tags.items())),
        *(f"file:        {f.path} {f.size} bytes sha256 {f.sha256}" for f in manifest.files),
    ]
    if manifest.description:
        lines.append(f"description: {printable(manifest.description)}")
    click.echo("\n".join(lines))


@cli.group()
def alias() -> None:
    """Move aliases (champion, candidate, ...) and read their history."""


@alias.command("set")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "--expect", type=click.IntRange(min=1), help="Fail unless the alias is now at this version."
)
@click.option("--author")
@json_option
@click.pass_context
def alias_set(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    name: str,
    alias_name: str,
    version: int,
    expect: int | None,
    author: str | None,
    as_json: bool,
) -> None:
    """Point ALIAS of NAME at VERSION."""
    event = _store(ctx).set_alias(name, alias_name, version, expected_version=expect, author=author)
    if as_json:
        _emit_json(_event_json(event))
        return
    before = "-" if event.from_version is None else str(event.from_version)
    click.echo(f"{name}@{alias_name}: {before} -> {event.to_version}")


@alias.command("list")
@click.argument("name")
@json_option
@click.pass_context
def alias_list(ctx: click.Context, name: str, as_json: bool) -> None:
    """List the aliases of NAME."""
    aliases = _store(ctx).get_aliases(name)
    if as_json:
        _emit_json(aliases)
        return
    for alias_name, version in aliases.items():
        click.echo(f"@{alias_name}\t{version}")


@alias.command("history")
@click.argument("name")
@click.argument("alias_name", metavar="ALIAS")
@json_option
@click.pass_context
def alias_history(ctx: click.Context, name: str, alias_name: str, as_json: bool) -> None:
    """Every move of ALIAS, oldest first."""
    events = _store(ctx).alias_history(name, alias_name)
    if as_json:
        _emit_json([_event_json(e) for e in events])
        return
    for e in events:
        before = "-" if e.from_version is None else str(e.from_version)
        by = printable(e.by or "-")
        click.echo(f"{e.at:%Y-%m-%dT%H:%M:%SZ}\t{by}\t{before} -> {e.to_version}")


@cli.command()
@click.argument("name")
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@json_option
@quiet_option
@click.pass_context
def download(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context, name: str, ref: str, dest: Path, as_json: bool, quiet: bool
) -> None:
    """Download NAME at REF into DEST, verifying every file's sha256."""
    with for_terminal(as_json=as_json, quiet=quiet) as progress:
        manifest = _store(ctx).download(name, ref, dest, progress=progress)
    if as_json:
        _emit_json(_manifest_json(manifest))
        return
    click.echo(f"{name} v{manifest.version} -> {dest} (verified {len(manifest.files)} file(s))")


@cli.command()
@click.argument("name")
@click.argument("ref")
@json_option
@quiet_option
@click.pass_context
def verify(ctx: click.Context, name: str, ref: str, as_json: bool, quiet: bool) -> None:
    """Re-hash the stored files of NAME at REF against the manifest."""
    with for_terminal(as_json=as_json, quiet=quiet) as progress:
        manifest = _store(ctx).verify(name, ref, progress=progress)
    if as_json:
        _emit_json(_manifest_json(manifest))
        return
    click.echo(f"{name} v{manifest.version}: {len(manifest.files)} file(s) verified")


@cli.command()
@click.argument("name")
@click.argument("version", type=click.IntRange(min=1))
@json_option
@click.pass_context
def archive(ctx: click.Context, name: str, version: int, as_json: bool) -> None:
    """Hide VERSION of NAME from `latest` (still fetchable by number)."""
    manifest = _store(ctx).archive(name, version)
    if as_json:
        _emit_json(_manifest_json(manifest))
        return
    click.echo(f"{name} v{version} archived")


@cli.command()
@click.argument("name")
@json_option
@click.pass_context
def reindex(ctx: click.Context, name: str, as_json: bool) -> None:
    """Rebuild the latest-pointer of NAME from a full listing (after an interrupted register)."""
    index = _store(ctx).reindex(name)
    if as_json:
        _emit_json(index.model_dump(mode="json"))
        return
    click.echo(f"{name}: latest={index.latest} max_version={index.max_version}")


def _dataset_ref(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, str]:
    """`NAME@3` -> version 3, `NAME@latest`, `NAME@golden` -> alias golden."""
    name, sep, ref = value.partition("@")
    if not sep or not name or not ref:
        raise click.BadParameter(
            f"expected NAME@VERSION (a number, latest or an alias), got {value!r}",
            param_hint="--dataset",
        )
    return name, ref if ref.isdigit() or ref == "latest" else f"@{ref}"


@cli.command()
@click.argument("name")
@click.argument("ref")
@click.option(
    "--dataset",
    "dataset_ref",
    required=True,
    callback=_dataset_ref,
    metavar="NAME@VERSION",
    help="Evaluation set: NAME@3, NAME@latest or NAME@alias.",
)
@json_option
@click.pass_context
def evaluate(ctx: click.Context, name: str, ref: str, dataset_ref: Any, as_json: bool) -> None:
    """Measure NAME at REF on an evaluation set (each model and dataset pair once, cached)."""
    from modelstore.evaluation import evaluate as run_evaluation

    report = run_evaluation(_store(ctx), name, ref, *dataset_ref)
    if as_json:
        _emit_json(report.model_dump(mode="json"))
        return
    click.echo("\n".join(_evaluation_lines(report)))


def _evaluation_lines(report: Evaluation) -> list[str]:
    result, figures = report.result, report.result.metrics
    how = "cached" if report.cached else "computed"
    lines = [
        f"{report.model.name} v{report.model.version} on dataset {report.dataset.name} "
        f"v{report.dataset.version}: {result.rows} rows x {result.features} features, "
        f"{len(result.labels)} classes ({how}, evaluator {result.evaluator_version}, "
        f"{result.evaluated_at:%Y-%m-%dT%H:%M:%SZ})",
        f"accuracy        {figures.accuracy:.4f}",
        f"macro_f1        {figures.macro_f1:.4f}",
        f"log_loss        {figures.log_loss:.4f}",
        f"ece             {figures.ece:.4f}",
        *(f"top_{k}_accuracy  {v:.4f}" for k, v in figures.top_k_accuracy.items()),
        "recall          "
        + " ".join(f"{label}={v:.4f}" for label, v in figures.per_class_recall.items()),
        *(
            f"latency b={batch:<3}   p50 {t.p50_ms:.3f} ms  p99 {t.p99_ms:.3f} ms"
            for batch, t in result.latency.items()
        ),
        "confusion matrix (rows: true label, columns: predicted label)",
    ]
    width = max(len(str(v)) for row in figures.confusion_matrix for v in row) + 1
    width = max(width, *(len(str(label)) + 1 for label in result.labels))
    lines.append(" " * width + "".join(f"{label:>{width}}" for label in result.labels))
    for label, row in zip(result.labels, figures.confusion_matrix, strict=True):
        lines.append(f"{label:>{width}}" + "".join(f"{v:>{width}}" for v in row))
    return lines


@cli.group()
@click.pass_context
def dataset(ctx: click.Context) -> None:
    """Evaluation sets: versioned, sha256-verified .npz files (X float32, y int labels).

    `list`, `show`, `verify`, `download` and `alias` work as they do for models.
    """
    ctx.meta[KIND_KEY] = "dataset"


@dataset.command("register")
@_registration
def dataset_register(ctx: click.Context, as_json: bool, **options: Any) -> None:
    """Register PATH (an .npz file, or a directory holding data.npz) as the next version."""
    _register(ctx, as_json, options)


for _shared in (list_, show, verify, download, alias):
    dataset.add_command(_shared)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; every outcome becomes an exit code here and nowhere else."""
    return run_click(cli, argv, prog_name="modelstore", codes=ERROR_CODES)
