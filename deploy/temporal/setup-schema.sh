#!/bin/sh
# One-shot (service `temporal-schema`): create Temporal's two PostgreSQL databases and bring
# their schemas to the version this admin-tools image ships, which is the server's version.
# Safe on every start: `create` ignores an existing database, `setup-schema -v 0.0` keeps a
# newer version, `update-schema` applies only the versions not yet applied.
set -eu

: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
: "${DBNAME:?}" "${VISIBILITY_DBNAME:?}"

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

setup() {
    database=$1
    schema_dir=$2
    echo "temporal-schema: $database from $schema_dir"
    sql_tool --db "$database" create
    sql_tool --db "$database" setup-schema -v 0.0
    sql_tool --db "$database" update-schema -d "$schema_dir"
}

# The admin-tools image ships the versioned schema files of its own server release.
setup "$DBNAME" /etc/temporal/schema/postgresql/v12/temporal/versioned
setup "$VISIBILITY_DBNAME" /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "temporal-schema: done"
