#!/usr/bin/env bash
# Sweep the KL factor of a config: one run per value, named after it, skipping finished runs.
#
#   scripts/sweep_kl.sh CONFIG [KL_FACTOR ...] [-- EXTRA vae train OPTIONS]
#   scripts/sweep_kl.sh configs/celeba_z200.yaml 1 1e-1 1e-2 1e-3 1e-4 1e-6
#   RUNS_DIR=/scratch/runs scripts/sweep_kl.sh configs/celeba_z200.yaml 1e-3 -- --set train.epochs=10
#
# Each value trains runs/<config name>_kl<value> (e.g. runs/celeba_z200_kl1e-4). A COMPLETED run
# is skipped; a KILLED, FAILED or interrupted one is resumed from its last checkpoint, so the same
# command picks a half-done sweep up where it stopped. Values default to 1 1e-1 1e-2 1e-3 1e-4 1e-6.
# All runs of a config share one image-folder cache: only the first run decodes the images.
set -euo pipefail

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
  echo "usage: $0 CONFIG [KL_FACTOR ...] [-- EXTRA vae train OPTIONS]" >&2
  exit 2
fi
config=$1
shift
values=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  values+=("$1")
  shift
done
[ "${1:-}" = "--" ] && shift
extra=("$@")
[ ${#values[@]} -eq 0 ] && values=(1 1e-1 1e-2 1e-3 1e-4 1e-6)

runs_dir=${RUNS_DIR:-runs}
base=$(basename "$config" .yaml)
failed=0
for kl in "${values[@]}"; do
  name="${base}_kl${kl}"
  run="$runs_dir/$name"
  if [ -f "$run/manifest.json" ] && grep -q '"status": "COMPLETED"' "$run/manifest.json"; then
    echo "== $name: COMPLETED, skipped"
    continue
  fi
  if [ -f "$run/manifest.json" ]; then
    echo "== $name: resuming"
    vae train --resume "$run" || failed=1
  else
    echo "== $name: loss.kl_factor=$kl"
    vae train "$config" --set "loss.kl_factor=$kl" --name "$name" --runs-dir "$runs_dir" \
      ${extra[@]+"${extra[@]}"} || failed=1
  fi
done
exit $failed
