#!/usr/bin/env bash
# Makes sure Debian's Chromium (and its driver) is installed for the browser tests.
# As root it installs the packages when missing; otherwise it only reports.
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null 2>&1 \
    || apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { echo "could not install chromium"; exit 1; }
else
  echo "chromium is not installed; the browser tests will be skipped (run as root or: apt-get install chromium)"
fi
