#!/usr/bin/env bash
# Installs every Debian package tinynas needs (idempotent; as root or through sudo), then configures
# and builds the Release build in build/.
#   scripts/setup.sh                 install + build
#   TINYNAS_SKIP_INSTALL=1 ...       build only (packages already present)
#   TINYNAS_BUILD_DIR=DIR ...        build somewhere else than build/
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  clang libclang-rt-14-dev
  libtorch-dev libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata libopencv-dnn-dev
  libopenblas0-pthread
  libeigen3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libtbb-dev
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev
  zlib1g-dev libzip-dev libjpeg62-turbo-dev libpng-dev gnuplot-nox
  gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  libopenmpi-dev openmpi-bin slurm-wlm munge
  dataset-fashion-mnist
  libsndfile1-dev libkissfft-dev  # WAV reading and the host's FFT of the audio front-end
  espeak-ng sox libsox-fmt-base   # scripts/make_speech_set.sh synthesizes the keyword-spotting set
  python3-torch python3-torchvision  # the ONNX import tests export networks with torch.onnx.export
)

if [[ "${TINYNAS_SKIP_INSTALL:-0}" != 1 ]]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
      SUDO="sudo"
    fi
    echo "setup.sh: installing ${missing[*]}"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "setup.sh: all Debian packages present"
  fi
fi

BUILD_DIR="${TINYNAS_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup.sh: built $BUILD_DIR/tinynas"
