#!/usr/bin/env bash
# Nightly cost sweep: run (or resume) the spec, compare with the previous night, write the report.
# Exits 1 when a placement changed, a $/M moved beyond the threshold or a point newly failed, so cron or a CI
# scheduler can alert; the short diff.md is ready to paste into a chat or a ticket.
#
#   cron:  15 2 * * *  cd /srv/tokenop-solve && scripts/nightly_sweep.sh configs/sweeps/nightly.yaml results/sweeps nightly
set -uo pipefail
spec=${1:-configs/sweeps/nightly.yaml}
out=${2:-results/sweeps}
name=${3:-nightly}
bin=${TOKENOP:-tokenop-solve}
"$bin" sweep "$spec" --output "$out" --quiet || exit $?
"$bin" report "$out" --name "$name" || exit $?
"$bin" sweep diff "$out" --name "$name"
status=$?
if [ "$status" -eq 2 ]; then  # the first night: nothing to compare yet
  exit 0
fi
exit "$status"
