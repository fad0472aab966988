#!/usr/bin/env bash
# Install and start the system services the tests and the demo need. Idempotent: does nothing
# when everything is already there. Extended by the STAC API work (see docs/stac_api.md).
set -euo pipefail
exit 0
