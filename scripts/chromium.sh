#!/usr/bin/env bash
# Install Debian's headless-capable `chromium` for the report render tests (tests/models/
# test_explain_render.py), like scripts/services.sh installs PostgreSQL. Idempotent and quick when
# chromium is already installed (one dpkg check, no apt call). Root (or passwordless sudo) is
# needed only when it is missing.
# Environment: ECOCUBE_SKIP_CHROMIUM=1 to do nothing (the render tests then skip with a reason).
set -euo pipefail

log() { echo "chromium: $*"; }

if [[ "${ECOCUBE_SKIP_CHROMIUM:-0}" == "1" ]]; then
  log "ECOCUBE_SKIP_CHROMIUM=1, nothing to do"
  exit 0
fi

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    log "need root for: $*; run this script as root (sudo bash scripts/chromium.sh)"; return 1; fi
}

if dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed"; then
  log "installed ($(chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi

log "installing chromium (apt)"
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  chromium fonts-dejavu-core
log "installed ($(chromium --version 2>/dev/null || echo 'version unknown'))"
