#!/usr/bin/env bash
# What `make test` needs beyond Python, Java and Maven: Prometheus (`prometheus`, `promtool`)
# and Alertmanager (`alertmanager`, Debian's `prometheus-alertmanager`, and `amtool`); the
# integration tests run the real servers.  Present: nothing to do.  Missing on Debian or
# Ubuntu as root: installed with apt-get.  Otherwise: stop at once, saying what to install.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

packages=()
if ! have prometheus || ! have promtool; then
  packages+=(prometheus)
fi
if ! { have alertmanager || have prometheus-alertmanager; } || ! have amtool; then
  packages+=(prometheus-alertmanager)
fi
[[ ${#packages[@]} -eq 0 ]] && exit 0

wanted="Prometheus (prometheus, promtool) and Alertmanager (alertmanager, amtool)"
if have apt-get && [[ $(id -u) -eq 0 ]]; then
  echo "test-prereqs: installing ${packages[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -q >&2 &&
    apt-get install -y -q --no-install-recommends "${packages[@]}" >&2; then
    exit 0
  fi
  echo "test-prereqs: error: apt-get could not install ${packages[*]}; the tests need ${wanted} on PATH." >&2
  exit 1
fi
if have apt-get; then
  echo "test-prereqs: error: the tests need ${wanted}; install them with: sudo apt-get install -y ${packages[*]}" >&2
else
  echo "test-prereqs: error: the tests need ${wanted} on PATH; install them from your system's packages or the Prometheus project's release binaries." >&2
fi
exit 1
