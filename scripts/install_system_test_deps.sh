#!/usr/bin/env bash
# System packages the test suite needs: a PostgreSQL server for the distributed Optuna test
# (the test starts and stops its own server in a temporary folder). Installs only what is missing.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    else
        echo "PostgreSQL server binaries not found: install Debian's 'postgresql' package (the distributed test will be skipped)." >&2
    fi
fi
