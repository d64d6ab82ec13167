#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing: the PostgreSQL server
# (the migration and access tests; required) and Redis (the cache tests and `make local`'s
# cache; without it, and without root, those tests skip and `make local` leaves the cache out,
# except under CI=true, where it is required too).
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
  if [[ " ${missing[*]} " == *" postgresql "* ]] || [ "${CI:-}" = "true" ]; then
    echo "error: missing Debian package(s) ${missing[*]} (PostgreSQL's initdb, redis-server): install them as root" >&2
    exit 1
  fi
  echo "warning: redis-server is missing (Debian package redis-server): the cache tests skip and make local leaves the cache out" >&2
  exit 0
fi
echo "installing ${missing[*]} from Debian packages..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
