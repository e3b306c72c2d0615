#!/usr/bin/env bash
# Puts the LLVM SDK that `--features cuda` links against where cubecl's LLVM bundler looks for it,
# so the CUDA build needs no download from GitHub: only PyPI, through pip, or wheels at hand.
#
#   scripts/llvm-sdk.sh                 # fetch the two wheels from PyPI with pip
#   scripts/llvm-sdk.sh --wheels DIR    # use wheels already in DIR (no network at all)
#
# The bundler (tracel-llvm-bundler 23.1.0-4, a build-dependency of cubecl-llvm) skips its own
# download when `$XDG_DATA_HOME/tracel/tracel-llvm-23.1.0-4/.tracel-llvm-installed` exists
# (XDG_DATA_HOME defaults to ~/.local/share) and reads the SDK through `bin/llvm-config` in that
# folder. PyPI's mlc-llvm-static wheel is such an SDK (static LLVM 23.1.1, headers and an
# llvm-config); its extra-targets wheel adds NVPTX, which the CUDA runtime compiles kernels for.
# Both wheels are pinned by hash. Running it again with the SDK in place does nothing.
set -euo pipefail

version=23.1.1.post0
# sha256 of the manylinux_2_28 x86_64 wheels of $version.
declare -A sha256=(
  [mlc_llvm_static]=dcfec888abfaa418be77d41af585805f31463584cf9c90582992c00f392c1ac5
  [mlc_llvm_static_extra_targets]=c36e834d9a4e9cf9759f27fece65711ece7a2fc2b5a96dbb15d66f5e9e787929
)

wheels=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="${2:?--wheels needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "llvm-sdk.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [ -n "$wheels" ] && [ ! -d "$wheels" ]; then
  echo "llvm-sdk.sh: --wheels $wheels: no such directory" >&2
  exit 2
fi

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "llvm-sdk.sh: the pinned wheels are for Linux x86-64, this is $(uname -s)-$(uname -m);" >&2
  echo "  elsewhere, build with network access and let the bundler download its own LLVM" >&2
  exit 2
fi

dest="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
marker="$dest/.tracel-llvm-installed"
if [ -e "$marker" ]; then
  echo "LLVM SDK already in place: $dest"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "$wheels" ]; then
  wheels="$work/wheels"
  echo "== fetching mlc-llvm-static $version (about 90 MB) from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --dest "$wheels" \
    "mlc-llvm-static==$version" "mlc-llvm-static-extra-targets==$version"
fi

sdk="$work/sdk"
mkdir -p "$sdk"
for name in mlc_llvm_static mlc_llvm_static_extra_targets; do
  wheel=$(find "$wheels" -maxdepth 1 -name "$name-$version-*manylinux_2_28_x86_64.whl" | head -n1)
  if [ -z "$wheel" ]; then
    echo "llvm-sdk.sh: no $name-$version wheel for manylinux_2_28_x86_64 in $wheels" >&2
    exit 2
  fi
  got=$(sha256sum "$wheel" | cut -d' ' -f1)
  if [ "$got" != "${sha256[$name]}" ]; then
    echo "llvm-sdk.sh: $wheel: sha256 $got, expected ${sha256[$name]}" >&2
    exit 2
  fi
  # Both wheels fill the same tree, mlc_llvm_static/static: the SDK's prefix.
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$work/unpacked"
done
cp -a "$work/unpacked/mlc_llvm_static/static/." "$sdk/"
chmod +x "$sdk/bin/llvm-config"
"$sdk/bin/llvm-config" --version >/dev/null

# Moved into place whole, then marked: an interrupted run leaves no marker, so the next one
# starts again instead of the bundler trusting half a tree.
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$sdk" "$dest"
touch "$marker"
echo "LLVM SDK $("$dest/bin/llvm-config" --version) in $dest"
