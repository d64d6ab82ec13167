#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: the PostgreSQL server
# (the migration and access tests) and Redis (the cache tests, and `make local`'s cache).
set -euo pipefail
missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v redis-server >/dev/null; then
  missing+=(redis-server)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "error: missing ${missing[*]} (PostgreSQL's initdb, redis-server); install the Debian package(s) ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian packages..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the services it installs; the tests and `make local` run their own servers.
for service in redis-server; do
  if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
    systemctl stop "$service" 2>/dev/null || true
  fi
done
