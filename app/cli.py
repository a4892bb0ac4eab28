"""Flask CLI: ``flask --app app.wsgi store init``, ``ingest load CONNECTOR PATH``, ``jobs ...`` and
``users create|set-role|set-password|disable|list``, ``forecast train|issue`` and
``marketplace statement|platform-products``."""
from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.forecasting import train_in_worker_process
from app.scheduler import JOBS, job_spec, run_scheduled
from app.services import services
from engine import accounts, audit
from engine.files import IngestError
from engine.forecast.history import Series, default_series
from engine.forecast.issue import RECORD_DAYS, WARMUP_DAYS, IssueError, issue_all, train_series, trainable_series
from engine.jobs import JobRun, last_run_per_job, recent_runs
from engine.marketplace import partners, platform, products, views
from engine.marketplace.revenue import StatementError
from engine.marketplace.statements import partner_statement
from engine.store import Store, StoreError
from ingest.backfill import BackfillError, run_backfill, validate
from ingest.load import parse_all, raw_files_at, write_parsed
from ingest.registry import get_connector

_LOCKED_HINT = ("the embedded store is held by another process (is the app running?). chDB allows one process "
                "per store directory: stop the app, or point C254_STORE at a ClickHouse server.")


def _store_error(exc: StoreError) -> click.ClickException:
    text = str(exc)
    # chDB reports a directory held by another process as a lock failure or, from clickhouse-connect,
    # as a failure to start its embedded server.
    if any(sign in text for sign in ("Cannot lock file", "Code: 76", "Error initializing EmbeddedServer")):
        return click.ClickException(_LOCKED_HINT)
    return click.ClickException(f"store error: {text}")


store_group = AppGroup("store", help="Prepare and inspect the store.")
ingest_group = AppGroup("ingest", help="Load operators' files into the store.")
jobs_group = AppGroup("jobs", help="Scheduled jobs and backfills.")
users_group = AppGroup("users", help="Accounts: create users, set roles and passwords, disable, list.")
forecast_group = AppGroup("forecast", help="Price forecasts: train the transformers, issue runs.")
marketplace_group = AppGroup("marketplace", help="The data marketplace: partners' monthly statements, the platform's "
                                                "own products.")
#: How the audit log names the command line as actor and address.
CLI_ACTOR, CLI_ADDRESS = "cli", "console"


@store_group.command("init")
def store_init() -> None:
    """Apply migrations, and load demo data into an empty store when C254_DEMO is on."""
    try:
        store = services().ready_store(migrate_server=True)
        n = store.scalar("SELECT count() FROM prices")
        first = accounts.ensure_first_admin(store)
        if first:
            audit.record(store, "first start", audit.USER_CREATED, f"{first[0]} as admin", CLI_ADDRESS)
    except StoreError as exc:
        raise _store_error(exc) from exc
    click.echo(f"store ready: {services().settings.store_url.split('?')[0]} ({n:,} price rows)")
    if first:
        # Shown this once and stored nowhere but as a hash: the self-hosted tools' way of a first start.
        click.echo(f"first start: admin account {first[0]}, password {first[1]} — change it with "
                   f"`flask --app app.wsgi users set-password {first[0]}`")


@ingest_group.command("load")
@click.argument("connector")
@click.argument("path", type=click.Path())
def ingest_load(connector: str, path: str) -> None:
    """Load a file or a folder of CONNECTOR's files (e.g. nem) from PATH; all or nothing."""
    try:
        conn = get_connector(connector)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    try:
        # Parse before opening the store: a bad file is reported even while the app holds the store.
        parsed = parse_all(conn, raw_files_at(path))
        report = write_parsed(services().ready_store(), parsed)
    except IngestError as exc:
        raise click.ClickException(f"nothing loaded: {exc}") from exc
    except StoreError as exc:
        raise _store_error(exc) from exc
    click.echo(report.summary())


@jobs_group.command("list")
def jobs_list() -> None:
    """The scheduled jobs, with their cadence and last run."""
    try:
        last = last_run_per_job(services().ready_store()).set_index("job")
    except StoreError as exc:
        raise _store_error(exc) from exc
    for spec in JOBS:
        cron = " ".join(f"{k}={v}" for k, v in spec.cron.items())
        status = last.at[spec.id, "last_status"] if spec.id in last.index else "never run"
        click.echo(f"{spec.id:<22} {spec.label:<42} cron(UTC) {cron:<20} last: {status}")


@jobs_group.command("runs")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--job", default=None, help="only this job (e.g. nem_price_demand or backfill:nem)")
def jobs_runs(limit: int, job: str | None) -> None:
    """Recent runs, newest first."""
    try:
        runs = recent_runs(services().ready_store(), limit, job)
    except StoreError as exc:
        raise _store_error(exc) from exc
    for r in runs.itertuples():
        click.echo(f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.job:<28} {r.status:<10} "
                   f"{int(r.progress_done)}/{int(r.progress_total)} read {int(r.rows_read):,} "
                   f"written {int(r.rows_written):,} rejected {int(r.rows_rejected):,} {r.error[:120]}")


@jobs_group.command("run")
@click.argument("job_id")
def jobs_run(job_id: str) -> None:
    """Run a scheduled job now, in this process, and print how it ended."""
    try:
        spec = job_spec(job_id)
    except KeyError as exc:
        raise click.UsageError(str(exc.args[0])) from exc
    try:
        run = run_scheduled(current_app._get_current_object(), spec)
    except StoreError as exc:
        raise _store_error(exc) from exc
    click.echo(f"{job_id}: {run.status}; read {run.rows_read:,}, written {run.rows_written:,}, "
               f"rejected {run.rows_rejected:,}" + (f"; {run.error}" if run.error else ""))
    if run.status != "succeeded":
        raise SystemExit(1)


@jobs_group.command("backfill")
@click.argument("connector")
@click.argument("start")
@click.argument("end")
@click.option("--kind", default=None, help="dataset, e.g. price_and_demand or DISPATCHPRICE")
@click.option("--source", default=None, type=click.Path(), help="replay a local file or folder")
def jobs_backfill(connector: str, start: str, end: str, kind: str | None, source: str | None) -> None:
    """Backfill CONNECTOR from START to END (inclusive dates), period by period, with progress."""
    try:
        req = validate(connector, start, end, kind=kind, source=source)
    except BackfillError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        store = services().ready_store()
        run = JobRun(job=f"backfill:{req.connector}" + (f":{req.kind}" if req.kind else ""),
                     market=req.connector.upper())
        run.save(store)
        run_backfill(store, req, run)
    except StoreError as exc:
        raise _store_error(exc) from exc
    click.echo(f"backfill {req.connector} {req.start}..{req.end}: {run.status}; "
               f"{run.progress_done}/{run.progress_total} done, read {run.rows_read:,}, "
               f"written {run.rows_written:,}, rejected {run.rows_rejected:,}"
               + (f"; {run.error}" if run.error else ""))
    if run.status != "succeeded":
        raise SystemExit(1)

def _password_from_stdin() -> tuple[str, bool]:
    """(password, generated): the password piped on standard input (one line), or typed at a terminal, or,
    when none is given, a generated one."""
    stdin = click.get_text_stream("stdin")
    if stdin.isatty():
        given = click.prompt("Password (empty: generate one)", default="", show_default=False, hide_input=True)
    else:
        given = stdin.readline().rstrip("\r\n")
    return (given, False) if given else (accounts.generate_password(), True)


def _users_store() -> Store:
    try:
        return services().ready_store()
    except StoreError as exc:
        raise _store_error(exc) from exc


def _account_change(change, *args):
    try:
        return change(_users_store(), *args)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        raise _store_error(exc) from exc


def _cli_audit(action: str, detail: str) -> None:
    try:
        audit.record(_users_store(), CLI_ACTOR, action, detail, CLI_ADDRESS)
    except StoreError as exc:
        raise _store_error(exc) from exc


@users_group.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(accounts.ROLES), help="what the user may see and do")
def users_create(email: str, role: str) -> None:
    """Create a user; the password is read from standard input, or generated and printed when none is given."""
    password, generated = _password_from_stdin()
    user = _account_change(accounts.create_user, email, role, password)
    _cli_audit(audit.USER_CREATED, f"{user.email} as {user.role}")
    click.echo(f"created {user.email} ({user.role})" + (f"; password {password}" if generated else ""))


@users_group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(accounts.ROLES))
def users_set_role(email: str, role: str) -> None:
    """Give the user EMAIL the role ROLE."""
    before = _account_change(accounts.find_user, email)
    user = _account_change(accounts.set_role, email, role)
    if before is not None and before.role != user.role:
        _cli_audit(audit.ROLE_CHANGED, f"{user.email}: {before.role} → {user.role}")
    click.echo(f"{user.email} is {user.role}")


@users_group.command("set-password")
@click.argument("email")
def users_set_password(email: str) -> None:
    """Set the password of EMAIL from standard input, or to a generated one that is printed."""
    password, generated = _password_from_stdin()
    user = _account_change(accounts.set_password, email, password)
    _cli_audit(audit.PASSWORD_SET, user.email)
    click.echo(f"password of {user.email} set" + (f": {password}" if generated else ""))


@users_group.command("disable")
@click.argument("email")
def users_disable(email: str) -> None:
    """Stop EMAIL from signing in; a session they hold is refused at its next request."""
    before = _account_change(accounts.find_user, email)
    user = _account_change(accounts.disable_user, email)
    if before is not None and before.active:
        _cli_audit(audit.USER_DISABLED, user.email)
    click.echo(f"{user.email} disabled")


@users_group.command("list")
def users_list() -> None:
    """Every user: email, role, active or disabled, created (UTC)."""
    for user in _account_change(accounts.list_users):
        click.echo(f"{user.email:<40} {user.role:<8} {'active' if user.active else 'disabled':<8} "
                   f"{user.created_at:%Y-%m-%d %H:%M}")


def _series_chosen(store: Store, market: str | None, location: str | None) -> list[Series] | None:
    """The series named on the command line (None: every trainable one)."""
    if market is None and location is None:
        return None
    if market is None or location is None:
        raise click.UsageError("name both --market and --location, or neither")
    series = default_series(store, market, location)
    if series is None:
        raise click.ClickException(f"no {market} {location} prices are stored")
    return [series]


class _Progress:
    """A progress bar that learns its length from the first report (the worker knows it, not the caller)."""

    def __init__(self) -> None:
        self.bar, self.label, self.shown = None, "", 0

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.bar is None or message.split(" ")[0] != self.label:
            self.close()
            self.label = message.split(" ")[0]
            self.bar = click.progressbar(length=max(int(total), 1), label=message[:40], show_eta=True)
            self.bar.__enter__()
            self.shown = 0
        self.bar.update(max(int(done) - self.shown, 0))
        self.shown = max(self.shown, int(done))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@forecast_group.command("train")
@click.option("--market", default=None, help="only this market's series (with --location)")
@click.option("--location", default=None, help="only this location (with --market)")
def forecast_train(market: str | None, location: str | None) -> None:
    """Train the transformer now (every series with a year of history, or the one named), in a worker process,
    with a progress bar; then issue its runs."""
    try:
        store = services().ready_store()
        chosen = _series_chosen(store, market, location)
        todo = chosen if chosen is not None else trainable_series(store)
        if not todo:
            raise click.ClickException("no stored price series has the history to train on "
                                       f"(a year before the last {RECORD_DAYS + WARMUP_DAYS} days)")
        for series in todo:
            click.echo(f"training the transformer of {series.market} {series.location} ({series.price_kind})")
            bar = _Progress()
            try:
                record = train_series(store, series, services().settings.models_dir, train_in_worker_process, bar)
            except IssueError as exc:
                raise click.ClickException(str(exc)) from exc
            finally:
                bar.close()
            click.echo(f"  model v{record.version} in {record.seconds:.0f} s; validation {record.metrics}")
    except StoreError as exc:
        raise _store_error(exc) from exc


@forecast_group.command("issue")
def forecast_issue() -> None:
    """Issue every series' owed forecast runs now (baselines, and the trained models' runs)."""
    try:
        for issued in issue_all(services().ready_store()):
            click.echo(f"{issued.series.market} {issued.series.location} {issued.model}: "
                       f"{len(issued.run_ids)} runs in {issued.seconds:.1f} s")
    except StoreError as exc:
        raise _store_error(exc) from exc


@marketplace_group.command("statement")
@click.argument("partner")
@click.argument("month")
@click.option("--csv", "as_csv", is_flag=True, help="print the statement as CSV")
def marketplace_statement(partner: str, month: str, as_csv: bool) -> None:
    """PARTNER's statement for MONTH (YYYY-MM, UTC): each product's calls, rows and amount, the gross and the
    70/30 split (PARTNER: a partner id, or "platform")."""
    try:
        store = services().ready_store()
        if partner != products.PLATFORM and partners.get_partner(store, partner) is None:
            raise click.ClickException(f"no partner {partner!r}")
        made = partner_statement(store, partner, month)
    except (StatementError, partners.MarketplaceError) as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        raise _store_error(exc) from exc
    if as_csv:
        click.echo(made.to_csv(), nl=False)
        return
    click.echo(f"statement of {partner} for {month} (UTC), {made.currency}")
    for line in made.lines:
        click.echo(f"  {line.product:<28} {line.kind:<14} {line.unit_price:>12} from {line.valid_from:%Y-%m-%d %H:%M} "
                   f"{line.billable_calls:>8} calls {line.billable_rows:>10} rows {line.subscriptions:>4} subs "
                   f"{line.amount:>16}")
    click.echo(f"  exact total {made.exact_total}; gross {made.gross}; partner (70 %) {made.partner_share}; "
               f"platform (30 %) {made.platform_share}")


@marketplace_group.command("platform-products")
@click.option("--list-only", is_flag=True, help="list what is there and what would be listed; change nothing")
def marketplace_platform_products(list_only: bool) -> None:
    """Create, price and list the platform's own products over the series the store holds (idempotent: a product
    already as declared is left as it is), then list every declared product and its state."""
    try:
        store = services().ready_store()
        if not list_only:
            platform.ensure_platform_products(store)
        stored = platform.stored_series(store)
        held = {p.slug: p for p in products.owned_by(store, products.PLATFORM)}
    except (ValueError, partners.MarketplaceError) as exc:  # e.g. a declared slug taken by a partner's product
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:
        raise _store_error(exc) from exc
    now = datetime.now(UTC)
    waiting = 0
    for slug, declared in platform.DECLARED.items():
        source = declared.source
        product = held.get(slug)
        if product is not None:
            state, price = product.status, views.plan_text(product.plan_at(now))
        elif (source.market, source.location, source.price_kind) in stored:
            state, price = "to create", views.plan_text(None)
        else:
            state, price, waiting = "no data", "", waiting + 1
        click.echo(f"{slug:<32} {state:<9} {price:<26} {source}")
    listed = sum(1 for p in held.values() if p.status == "listed")
    click.echo(f"{listed} of {len(platform.DECLARED)} platform products listed; {waiting} wait for their series "
               "to be stored")

def register_cli(server: Flask) -> None:
    for group in (store_group, ingest_group, jobs_group, users_group, forecast_group, marketplace_group):
        server.cli.add_command(group)
