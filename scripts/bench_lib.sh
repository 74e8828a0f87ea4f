# The steps the search-quality benchmarks (bench_cifar10.sh, bench_kws.sh) share, sourced by them.
# bench_setup sets TN (the tinynas binary), WORK (the work folder), EXPERIMENT (its pinned experiment),
# SUPERNET (where the trained supernet lands), LR and NETWORK_LR (the compared networks' training, from
# the supernet and from random weights), QUICK and SUPERNET_EPOCHS (arrays of extra flags: every
# training run's, the supernet's). The caller sets EPOCHS, SAMPLES (predictor subnets), EVAL_IMAGES,
# EXPORT_MCU (the emulated board of the exports) and EXTRACT_FLAGS (the compared networks' extra flags).
# Every step writes its result in WORK and is skipped when that result is there, so an interrupted run
# continues where it stopped.

log() { echo "== $(date +%H:%M:%S) $*"; }

# The binary of BUILD (relative to ROOT) and the work folder: bench_setup SCRIPT DEFAULT_WORK_FOLDER.
bench_setup() {
  TN="$ROOT/$BUILD/tinynas"
  [[ -x "$TN" ]] || { echo "$1: $TN not built" >&2; exit 1; }
  WORK="${TINYNAS_BENCH_DIR:-$BUILD/$2}"
  mkdir -p "$WORK"
  WORK="$(cd "$WORK" && pwd)"
  EXPERIMENT="$WORK/experiment.yaml"
  SUPERNET="$WORK/supernet/supernet.pt"
  LR="${TINYNAS_BENCH_LR:-0.05}"
  NETWORK_LR="${TINYNAS_BENCH_LR:-0.1}"
  QUICK=()  # a cap on the steps of every epoch, for trials
  [[ -n "${TINYNAS_BENCH_MAX_STEPS:-}" ]] && QUICK=(--max-steps-per-epoch "$TINYNAS_BENCH_MAX_STEPS")
  SUPERNET_EPOCHS=()
  [[ -n "${TINYNAS_BENCH_SUPERNET_EPOCHS:-}" ]] && SUPERNET_EPOCHS=(--epochs "$TINYNAS_BENCH_SUPERNET_EPOCHS")
  export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
}

# The experiment, pinned: a copy of the shipped space and of the experiment, pointing at the data and at
# the supernet trained here. bench_pin_experiment SPACE_YAML EXPERIMENT_YAML DATA
bench_pin_experiment() {
  [[ -f "$EXPERIMENT" ]] && return 0
  cp "$1" "$WORK/space.yaml"
  sed -e "s#^space: .*#space: $WORK/space.yaml#" -e "s#^  path: .*#  path: $3#" \
      -e "s#^  resolutions: \(.*\)#  resolutions: \1\n  checkpoint: $SUPERNET#" "$2" >"$EXPERIMENT.tmp"
  mv "$EXPERIMENT.tmp" "$EXPERIMENT"
}

# The supernet, in chunks of TINYNAS_BENCH_TRAIN_LIMIT when set; exits 3 when a chunk ends first.
bench_train_supernet() {
  [[ -f "$SUPERNET" ]] && return 0
  local resume=() limit=() rc=0
  [[ -f "$WORK/supernet/checkpoint.pt" ]] && resume=(--resume)
  log "training the supernet ${resume[*]}"
  [[ -n "${TINYNAS_BENCH_TRAIN_LIMIT:-}" ]] && limit=(timeout --signal=TERM --kill-after=10m "$TINYNAS_BENCH_TRAIN_LIMIT")
  "${limit[@]}" "$TN" train --config "$EXPERIMENT" --out "$WORK/supernet" "${resume[@]}" "${SUPERNET_EPOCHS[@]}" \
    "${QUICK[@]}" || rc=$?
  if [[ $rc -eq 3 || $rc -eq 124 ]]; then
    log "training stopped with a checkpoint (its step is in the line above); run again to continue"
    exit 3
  fi
  [[ $rc -eq 0 ]] || exit "$rc"
}

# The accuracy predictor: Kendall tau on held-out subnets and the noise ceiling.
bench_predictor() {
  if [[ ! -f "$WORK/predictor.txt" ]]; then
    log "building the predictor from $SAMPLES subnets"
    "$TN" predictor build --config "$EXPERIMENT" --samples "$SAMPLES" --noise-check >"$WORK/predictor.tmp"
    mv "$WORK/predictor.tmp" "$WORK/predictor.txt"
  fi
  cat "$WORK/predictor.txt"
}

# A search under the given limits: bench_search NAME LIMIT_FLAGS...
bench_search() {
  local name="$1"
  shift
  if [[ ! -f "$WORK/search-$name/summary.json" ]]; then
    log "search '$name': $*"
    "$TN" --log-level warn search --config "$EXPERIMENT" "$@" --no-firmware --out "$WORK/search-$name" \
      >"$WORK/search-$name.txt"
  fi
  cat "$WORK/search-$name.txt"
}

# One network trained for EPOCHS, profiled, exported to EXPORT_MCU and run there:
# bench_train_and_export BUDGET NAME SOURCE. SOURCE is an arch file (fine-tuned from the supernet) or a
# network file (trained from random weights).
bench_train_and_export() {
  local budget="$1" name="$2" source="$3"
  local net="$WORK/networks/$budget-$name"
  mkdir -p "$WORK/networks"
  if [[ ! -f "$net.pt" ]]; then
    log "training $name ($budget): $EPOCHS epochs"
    local from=(--arch "$source" --lr "$LR")
    grep -q '"first_conv"' "$source" && from=(--network "$source" --lr "$NETWORK_LR")
    "$TN" --log-level warn extract --config "$EXPERIMENT" "${from[@]}" --finetune "$EPOCHS" "${EXTRACT_FLAGS[@]}" "${QUICK[@]}" \
      --out "$net.pt" >"$net.train.txt"
  fi
  if [[ ! -f "$net.profile.json" ]]; then
    "$TN" --log-level warn profile "$source" --config "$EXPERIMENT" --json >"$net.profile.tmp"
    mv "$net.profile.tmp" "$net.profile.json"
  fi
  if [[ ! -f "$net.export.txt" ]]; then
    log "exporting $name ($budget) for $EXPORT_MCU"
    "$TN" --log-level warn export --config "$EXPERIMENT" --subnet "$net.pt" --mcu "$EXPORT_MCU" --run-qemu \
      --eval-images "$EVAL_IMAGES" --force --out "$net.bundle" >"$net.export.tmp"
    mv "$net.export.tmp" "$net.export.txt"
  fi
}
