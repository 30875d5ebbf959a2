#!/bin/sh
# One-shot (service `temporal-namespace`): once the Temporal frontend serves, register the
# namespace and the search attributes the UI filters on (docs/guide-operator.md, "Find
# consultations that need attention"). Safe on every start: what already exists is kept, and
# an existing namespace's retention is set to TEMPORAL_NAMESPACE_RETENTION, so a changed value
# takes effect at the next `docker compose up`, not only when the namespace is first created.
#
# SEARCH_ATTRIBUTES is "Name=Type Name=Type ..."; tests/operations/test_compose.py checks it
# against workflows/search_attributes.py.
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${TEMPORAL_NAMESPACE_RETENTION:?}"
: "${SEARCH_ATTRIBUTES:?}"

ATTEMPTS=${REGISTER_ATTEMPTS:-60}
PAUSE_SECONDS=2

# Retries while the frontend warms up (a new namespace takes a few seconds to reach the
# frontend's cache), then gives up so that `docker compose up` reports the failure.
retry() {
    attempt=1
    until "$@"; do
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            echo "temporal-namespace: giving up after $ATTEMPTS attempts: $*" >&2
            return 1
        fi
        attempt=$((attempt + 1))
        sleep "$PAUSE_SECONDS"
    done
}

# The CLI's resolver trips on some container DNS setups (as in Temporal's own compose
# samples): dial the resolved address, or the name if it does not resolve here.
host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}
ip=$(getent ahosts "$host" | awk '/STREAM/ { print $1; exit }' || true)
address=${ip:-$host}:$port

retry temporal operator cluster health --address "$address"

if temporal operator namespace describe --namespace "$TEMPORAL_NAMESPACE" \
    --address "$address" >/dev/null 2>&1; then
    echo "temporal-namespace: namespace $TEMPORAL_NAMESPACE exists;" \
        "retention $TEMPORAL_NAMESPACE_RETENTION"
    retry temporal operator namespace update --namespace "$TEMPORAL_NAMESPACE" \
        --retention "$TEMPORAL_NAMESPACE_RETENTION" --address "$address"
else
    retry temporal operator namespace create --namespace "$TEMPORAL_NAMESPACE" \
        --retention "$TEMPORAL_NAMESPACE_RETENTION" --address "$address"
fi

registered=""
list_registered() {
    registered=$(temporal operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" \
        --address "$address")
}
retry list_registered

for attribute in $SEARCH_ATTRIBUTES; do
    name=${attribute%%=*}
    type=${attribute#*=}
    if printf '%s\n' "$registered" | grep -Eq "^[[:space:]]*$name[[:space:]]"; then
        echo "temporal-namespace: search attribute $name exists"
    else
        retry temporal operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" \
            --name "$name" --type "$type" --address "$address"
    fi
done
echo "temporal-namespace: done"
