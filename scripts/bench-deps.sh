#!/usr/bin/env bash
# Tools the API benchmark (bench/bench_api.py) needs beyond the test dependencies:
# wrk (Debian package) for the closed-loop HTTP load, py-spy (PyPI) for profiling the server.
# Idempotent: installs only what is missing. Run as root (or with sudo available).
set -euo pipefail

venv=${VENV:-.venv}
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  echo "installing Debian package: wrk"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
if [ ! -x "$venv/bin/py-spy" ]; then
  echo "installing py-spy into $venv"
  "$venv/bin/pip" install -q py-spy
fi
