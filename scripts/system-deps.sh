#!/usr/bin/env bash
# Debian packages geogrid's tests need, and a running PostgreSQL with PostGIS available.
# Idempotent: installs only what is missing. Run as root (or with sudo available).
# Packages given as arguments are installed too (`make test-qgis`: python3-qgis fonts-noto-cjk).
set -euo pipefail

pg_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
pg_version=${pg_version:-15}
# PostGIS for the store tests, poppler for checking printed PDFs, Chromium for the web-map tests
packages=("postgresql-${pg_version}-postgis-3" poppler-utils chromium "$@")

missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL ${pg_version}"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
