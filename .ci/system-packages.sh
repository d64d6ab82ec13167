#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: the PostgreSQL server.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "error: PostgreSQL server binaries (initdb) are missing; install the 'postgresql' package" >&2
  exit 1
fi
echo "installing PostgreSQL server from Debian packages..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
