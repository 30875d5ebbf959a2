"""figure counts: the /metrics figures kept by triggers, so a scrape sums a few rows

Revision ID: 0006_figure_counts
Revises: 0005_command_keys
Create Date: 2026-11-26 17:00:00

`figure_counts` is a ledger of deltas: a figure is the sum of its rows. Triggers on
consultations and notifications add a row per figure a write changes, in the writer's
transaction, so the sums are exact for every committed state and a write that changes no
figure (an upsert keeping the status, a stale upsert the revision guard ignores) adds
nothing. Writers only insert, so they never wait on one another for a hot counter row; every
256th row folds the ledger into one row per figure, which keeps it small with or without
scrapes.

PostgreSQL: statement-level triggers over transition tables (a COPY of a million rows adds a
row per figure, not a million). SQLite: row-level triggers. SQLite's batch mode (a copy of
the table) drops a table's triggers: a later migration that batch-alters consultations or
notifications on SQLite must create them again (`create_sqlite_triggers`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006_figure_counts'
down_revision: str | None = '0005_command_keys'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows of the ledger between folds (a fold runs when a row's id is a multiple).
FOLD_EVERY = 256

# Per table, its figures: (name, the names it can take as a LIKE pattern, when a row counts).
# `{r}` is the row. Final statuses as of this revision: closed, expired, withdrawn.
FIGURES: dict[str, tuple[tuple[str, str, str], ...]] = {
    'consultations': (
        ("'status:' || {r}.status", 'status:%', 'TRUE'),
        ("'overdue'", 'overdue',
         "{r}.overdue AND {r}.status NOT IN ('closed', 'expired', 'withdrawn')"),
    ),
    'notifications': (
        ("'deadline_breaches'", 'deadline_breaches',
         "{r}.event = 'overdue' AND {r}.audience = 'practice'"),
        ("'notifications_undelivered'", 'notifications_undelivered', '{r}.sent_at IS NULL'),
    ),
}
# The columns those conditions read: a SQLite update that changes none of them adds nothing.
READS = {
    'consultations': ('status', 'overdue'),
    'notifications': ('event', 'audience', 'sent_at'),
}


def _changes(table: str, rows: Sequence[tuple[str, int, str | None]]) -> str:
    """An insert of the figure changes of `rows`, summed per figure. Each is a row's name, its
    sign, and the table it comes from (None: SQLite's NEW or OLD, a single row)."""
    parts = [
        f"SELECT {name.format(r=row)} AS figure, {sign} AS n"
        + (f" FROM {source} AS {row}" if source else '')
        + f" WHERE {condition.format(r=row)}"
        for row, sign, source in rows
        for name, _, condition in FIGURES[table]
    ]
    return (
        'INSERT INTO figure_counts (figure, n) SELECT figure, sum(n) FROM ('
        + ' UNION ALL '.join(parts)
        + ') AS changes GROUP BY figure HAVING sum(n) <> 0'
    )


def _figures_of(table: str) -> str:
    return ' OR '.join(f"figure LIKE '{like}'" for _, like, _ in FIGURES[table])


# A fold deletes what it sums in one statement, so rows committed meanwhile are kept whole.
# One fold at a time (the others skip theirs), and only under READ COMMITTED: a fold in an
# older snapshot could meet rows another fold deleted and fail its writer's transaction. Should
# a folded row's id be a multiple too, the nested fold sums the sums again: harmless.
POSTGRES_FOLD = f"""
CREATE FUNCTION figure_counts_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'read committed'
        AND pg_try_advisory_xact_lock('figure_counts'::regclass::oid::bigint) THEN
        WITH folded AS (DELETE FROM figure_counts RETURNING figure, n)
        INSERT INTO figure_counts (figure, n)
        SELECT figure, sum(n) FROM folded GROUP BY figure HAVING sum(n) <> 0;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER figure_counts_fold AFTER INSERT ON figure_counts
FOR EACH ROW WHEN (NEW.id % {FOLD_EVERY} = 0) EXECUTE FUNCTION figure_counts_fold();
"""


def _postgres_triggers(table: str) -> str:
    # A truncate waits for a fold in progress, so the rows it deletes are all there are.
    return f"""
CREATE FUNCTION figure_counts_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_changes(table, [('r', 1, 'new_rows')])};
    ELSIF TG_OP = 'UPDATE' THEN
        {_changes(table, [('o', -1, 'old_rows'), ('r', 1, 'new_rows')])};
    ELSIF TG_OP = 'DELETE' THEN
        {_changes(table, [('o', -1, 'old_rows')])};
    ELSE
        PERFORM pg_advisory_xact_lock('figure_counts'::regclass::oid::bigint);
        DELETE FROM figure_counts WHERE {_figures_of(table)};
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER figure_counts_insert AFTER INSERT ON {table}
REFERENCING NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION figure_counts_{table}();
CREATE TRIGGER figure_counts_update AFTER UPDATE ON {table}
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
FOR EACH STATEMENT EXECUTE FUNCTION figure_counts_{table}();
CREATE TRIGGER figure_counts_delete AFTER DELETE ON {table}
REFERENCING OLD TABLE AS old_rows
FOR EACH STATEMENT EXECUTE FUNCTION figure_counts_{table}();
CREATE TRIGGER figure_counts_truncate AFTER TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION figure_counts_{table}();
"""


# SQLite runs one writer at a time, so the rows up to NEW.id are all committed or this
# transaction's own; the fold's own rows get higher ids (recursive_triggers stays off).
SQLITE_FOLD = f"""
CREATE TRIGGER figure_counts_fold AFTER INSERT ON figure_counts
WHEN NEW.id % {FOLD_EVERY} = 0
BEGIN
    INSERT INTO figure_counts (figure, n)
    SELECT figure, sum(n) FROM figure_counts WHERE id <= NEW.id
    GROUP BY figure HAVING sum(n) <> 0;
    DELETE FROM figure_counts WHERE id <= NEW.id;
END
"""


def create_sqlite_triggers(table: str) -> None:
    changed = ' OR '.join(f'OLD.{column} IS NOT NEW.{column}' for column in READS[table])
    op.execute(
        f"CREATE TRIGGER figure_counts_{table}_insert AFTER INSERT ON {table} "
        f"BEGIN {_changes(table, [('NEW', 1, None)])}; END"
    )
    op.execute(
        f"CREATE TRIGGER figure_counts_{table}_update AFTER UPDATE ON {table} WHEN {changed} "
        f"BEGIN {_changes(table, [('OLD', -1, None), ('NEW', 1, None)])}; END"
    )
    op.execute(
        f"CREATE TRIGGER figure_counts_{table}_delete AFTER DELETE ON {table} "
        f"BEGIN {_changes(table, [('OLD', -1, None)])}; END"
    )


def _backfill(table: str) -> str:
    """The figures of the rows already there, counted once."""
    return _changes(table, [('r', 1, table)])


def upgrade() -> None:
    op.create_table('figure_counts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('figure', sa.String(length=64), nullable=False),
    sa.Column('n', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_figure_counts'))
    )
    # No write may land between the backfill and the triggers (counted twice, or never). On
    # PostgreSQL the lock holds writers off until this migration commits; on SQLite the
    # backfill, the first write, takes the database's write lock until then.
    postgres = op.get_context().dialect.name == 'postgresql'
    if postgres:
        op.execute('LOCK TABLE consultations, notifications IN SHARE ROW EXCLUSIVE MODE')
    for table in FIGURES:
        op.execute(_backfill(table))
    if postgres:
        op.execute(POSTGRES_FOLD)
        for table in FIGURES:
            op.execute(_postgres_triggers(table))
    else:
        op.execute(SQLITE_FOLD)
        for table in FIGURES:
            create_sqlite_triggers(table)


def downgrade() -> None:
    if op.get_context().dialect.name == 'postgresql':
        for table in FIGURES:
            for event in ('insert', 'update', 'delete', 'truncate'):
                op.execute(f'DROP TRIGGER figure_counts_{event} ON {table}')
            op.execute(f'DROP FUNCTION figure_counts_{table}()')
        op.drop_table('figure_counts')
        op.execute('DROP FUNCTION figure_counts_fold()')
    else:
        for table in FIGURES:
            for event in ('insert', 'update', 'delete'):
                op.execute(f'DROP TRIGGER figure_counts_{table}_{event}')
        op.drop_table('figure_counts')
