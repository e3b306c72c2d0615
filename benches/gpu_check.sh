#!/usr/bin/env bash
# GPU check: trains LeNet-300-100 and LeNet-5-Caffe on each device with a prebuilt `ardent`
# (no build, no network), checks that the GPU devices' losses over the first batches agree with
# flex's, and prints training samples/s per device.
#
#   benches/gpu_check.sh [--ardent BIN] [--data DIR] [--samples N] [--devices LIST]
#                        [--tolerance T] [--out DIR] [--budget SECONDS]
#
#   --ardent     an `ardent` built with `--features cuda,vulkan` (default target/release/ardent)
#   --data       Fashion-MNIST's IDX files (default /usr/share/datasets/fashion-mnist)
#   --samples    training samples of each throughput run (default 20000)
#   --devices    comma-separated (default flex,cuda,vulkan); flex is the reference; `cpu`
#                names flex again, so `flex,cpu` tests the comparison itself without a GPU
#   --tolerance  largest relative difference from flex of each epoch's mean NLL and loss in the
#                agreement runs (default 0.02)
#   --out        where logs and summary.txt go (default gpu-check)
#   --budget     seconds for the whole check; runs that would pass it are skipped and fail the
#                check (default 450, inside the 8 minutes the check is sized for)
#
# Per model and device, two runs:
# 1. agreement: the same seed and the same 1,000 training images (900 after the validation
#    split), 2 epochs of 9 batches of 100, constant learning rate, no KL warm-up. Initial
#    weights are drawn on the CPU whatever the device (`Supernet::new`), so the devices start from
#    one net and see the same batches; only the sampled weight noise (σ² = e^-10 at the start)
#    and the order of float sums differ. Each epoch's mean NLL and loss over its 9 batches must
#    agree with flex's within --tolerance.
# 2. throughput: one epoch over --samples images, batch 100; `samples_per_second` counts the
#    training steps alone (the metrics' field), so a device's start-up and its kernels' first
#    compilation are not in it.
# A device the binary was built without, or whose driver or adapter is missing, is reported as
# absent (ardent's exit code 2 with its `--device` message) and is not a failure; flex must run.
# Exit code: 0 when every present device agrees and every run finished, 1 otherwise, 2 on bad
# arguments.
set -uo pipefail

ardent=target/release/ardent
data=/usr/share/datasets/fashion-mnist
samples=20000
devices=flex,cuda,vulkan
tolerance=0.02
out=gpu-check
budget=450
while [ $# -gt 0 ]; do
  case "$1" in
    --ardent) ardent="${2:?}"; shift 2 ;;
    --data) data="${2:?}"; shift 2 ;;
    --samples) samples="${2:?}"; shift 2 ;;
    --devices) devices="${2:?}"; shift 2 ;;
    --tolerance) tolerance="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    --budget) budget="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ ! -x "$ardent" ]; then
  echo "gpu_check.sh: --ardent $ardent: no executable there (build one with --features cuda,vulkan)" >&2
  exit 2
fi
if [ ! -d "$data" ]; then
  echo "gpu_check.sh: --data $data: no such directory (Fashion-MNIST's IDX files)" >&2
  exit 2
fi
case "$samples" in ''|*[!0-9]*) echo "gpu_check.sh: --samples $samples: not a count" >&2; exit 2 ;; esac
case "$budget" in ''|*[!0-9]*) echo "gpu_check.sh: --budget $budget: not a number of seconds" >&2; exit 2 ;; esac
if ! awk -v t="$tolerance" 'BEGIN { exit !(t + 0 > 0 && t + 0 < 1) }'; then
  echo "gpu_check.sh: --tolerance $tolerance: must lie in (0, 1)" >&2
  exit 2
fi
case ",$devices," in *,flex,*) ;; *) devices="flex,$devices" ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
deadline=$((SECONDS + budget))
failed=0

say() { echo "$*" | tee -a "$summary"; }

# The value of a numeric field in one JSON metrics line.
field() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p" <<<"$2"; }

# Runs one training; prints `ok`, `absent: REASON` or `failed: REASON`. Metrics lines go to
# $out/$tag.jsonl, stderr to $out/$tag.err.
train() {
  local tag=$1 spec=$2 device=$3 max_samples=$4 epochs=$5
  local left=$((deadline - SECONDS))
  if [ "$left" -le 5 ]; then
    echo "failed: skipped, the --budget of ${budget}s is spent"
    return
  fi
  timeout "$left" "$ardent" train "$root/models/zoo/$spec.toml" --data "$data" \
    --max-samples "$max_samples" --epochs "$epochs" --batch-size 100 --lr 1e-3 \
    --lr-schedule constant --warmup 0 --seed 7 --checkpoint-every 0 --device "$device" \
    --out "$out/$tag.safetensors" --json >"$out/$tag.jsonl" 2>"$out/$tag.err"
  local rc=$?
  local reason
  reason=$(grep -m1 '^error:' "$out/$tag.err" | sed 's/^error: //')
  if [ "$rc" -eq 0 ]; then
    echo ok
  elif [ "$rc" -eq 2 ] && grep -q -- "--device $device" <<<"$reason"; then
    echo "absent: $reason"
  elif [ "$rc" -eq 124 ]; then
    echo "failed: stopped at the --budget of ${budget}s"
  else
    echo "failed: exit code $rc: ${reason:-$(tail -n 3 "$out/$tag.err" | tr '\n' ' ')}"
  fi
}

say "gpu_check: $("$ardent" --version 2>/dev/null || echo ardent), data $data, devices $devices, tolerance $tolerance"
IFS=, read -r -a device_list <<<"$devices"
for spec in lenet-300-100 lenet5-caffe; do
  say ""
  say "== $spec"
  declare -A nll=() loss=() state=()
  for device in "${device_list[@]}"; do
    tag="$spec-${device//:/_}-agree"
    status=$(train "$tag" "$spec" "$device" 1000 2)
    state[$device]=$status
    if [ "$status" = ok ]; then
      mapfile -t lines < <(grep '^{' "$out/$tag.jsonl")
      if [ "${#lines[@]}" -ne 2 ]; then
        state[$device]="failed: ${#lines[@]} metrics lines, expected 2"
      else
        nll[$device]="$(field nll "${lines[0]}") $(field nll "${lines[1]}")"
        loss[$device]="$(field loss "${lines[0]}") $(field loss "${lines[1]}")"
        if [ "$(wc -w <<<"${nll[$device]} ${loss[$device]}")" -ne 4 ]; then
          state[$device]="failed: no nll or loss in the metrics lines"
        fi
      fi
    fi
  done
  if [ "${state[flex]}" != ok ]; then
    say "flex, the reference, did not run: ${state[flex]}"
    failed=1
    continue
  fi
  say "$(printf '%-10s %-17s %-17s %10s  %s' device 'NLL, epochs 1 2' 'loss, epochs 1 2' 'samples/s' agreement)"
  for device in "${device_list[@]}"; do
    verdict=${state[$device]}
    if [ "$verdict" = ok ] && [ "$device" != flex ]; then
      verdict=$(awk -v a="${nll[$device]} ${loss[$device]}" -v b="${nll[flex]} ${loss[flex]}" -v t="$tolerance" '
        BEGIN { n = split(a, x, " "); split(b, y, " "); worst = 0
                for (i = 1; i <= n; i++) { d = x[i] - y[i]; if (d < 0) d = -d; r = d / (y[i] < 0 ? -y[i] : y[i]); if (r > worst || r != r) worst = r }
                if (worst <= t) printf "agrees (max rel. diff %.2g)", worst; else printf "failed: differs by %.3g > %s", worst, t }')
    elif [ "$verdict" = ok ]; then
      verdict="reference"
    fi
    speed="-"
    if [ "${state[$device]}" = ok ]; then
      tag="$spec-${device//:/_}-speed"
      status=$(train "$tag" "$spec" "$device" "$samples" 1)
      if [ "$status" = ok ]; then
        speed=$(field samples_per_second "$(grep -m1 '^{' "$out/$tag.jsonl")")
        speed=$(printf '%.0f' "$speed")
      else
        speed="$status"
      fi
      case "$speed" in failed:*) failed=1 ;; esac
    fi
    case "$verdict" in failed:*) failed=1 ;; esac
    short() { [ -n "${1:-}" ] && printf '%.4g %.4g' $1 || printf -- '-'; }
    case "$speed" in failed:*) verdict="$verdict; throughput run $speed"; speed="-" ;; esac
    say "$(printf '%-10s %-17s %-17s %10s  %s' "$device" "$(short "${nll[$device]:-}")" "$(short "${loss[$device]:-}")" "$speed" "$verdict")"
  done
  unset nll loss state
done
say ""
if [ "$failed" -eq 0 ]; then
  say "gpu_check: passed in ${SECONDS}s (summary in $summary)"
else
  say "gpu_check: FAILED in ${SECONDS}s (logs in $out/)"
fi
exit "$failed"
