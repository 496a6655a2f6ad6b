#!/usr/bin/env bash
# check_install.sh - installs a memcg build tree into a temporary prefix and
# builds + runs tests/install/consumer against it:
#   1. CMake, find_package(memcg CONFIG)            (memcg::memcg -> shared library)
#   2. CMake, find_package(memcg CONFIG), MEMCG_USE_STATIC=ON (static library)
#   3. pkg-config: $CXX -std=c++20 main.cpp $(pkg-config --cflags --libs memcg)
#   4. pkg-config --static against libmemcg.a
# Registered by tests/install/CMakeLists.txt (ctest label "install").
# Exit codes: 0 pass, 77 skipped (sanitizer build), anything else fails.
set -euo pipefail

build_dir="" consumer_dir="" config="" generator="" cmake_bin="cmake" cxx="${CXX:-g++}"
libdir="lib" skip=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir)    build_dir="$2"; shift 2 ;;
    --consumer-dir) consumer_dir="$2"; shift 2 ;;
    --config)       config="$2"; shift 2 ;;
    --generator)    generator="$2"; shift 2 ;;
    --cmake)        cmake_bin="$2"; shift 2 ;;
    --cxx)          cxx="$2"; shift 2 ;;
    --libdir)       libdir="$2"; shift 2 ;;
    --skip)         skip="$2"; shift 2 ;;
    *) echo "check_install.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$build_dir" && -n "$consumer_dir" ]] || { echo "usage: check_install.sh --build-dir D --consumer-dir D [...]" >&2; exit 2; }

if [[ "$skip" == 1 ]]; then
  echo "install test skipped: sanitizer build (installed libraries would need the sanitizer runtime)"
  exit 77
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/memcg-install.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
case "$libdir" in
  /*) libpath="$libdir" ;;        # absolute CMAKE_INSTALL_LIBDIR: not relocatable
  *)  libpath="$prefix/$libdir" ;;
esac

step() { printf '\n=== %s\n' "$*"; }
config_args=()
[[ -n "$config" ]] && config_args=(--config "$config")
gen_args=()
[[ -n "$generator" ]] && gen_args=(-G "$generator")

step "install $build_dir -> $prefix"
"$cmake_bin" --install "$build_dir" --prefix "$prefix" "${config_args[@]}" >"$tmp/install.log" \
  || { cat "$tmp/install.log"; exit 1; }
for f in include/memcg/memcg.hpp include/memcg/group.hpp; do
  [[ -f "$prefix/$f" ]] || { echo "missing $prefix/$f" >&2; exit 1; }
done
for f in libmemcg.a libmemcg.so pkgconfig/memcg.pc cmake/memcg/memcgConfig.cmake cmake/memcg/memcgConfigVersion.cmake cmake/memcg/memcgTargets.cmake; do
  [[ -e "$libpath/$f" ]] || { echo "missing $libpath/$f" >&2; exit 1; }
done
if grep -rqE 'memcg_internal|memcg_objects' "$libpath/cmake/memcg"; then
  echo "exported targets reference build-tree-only targets:" >&2
  grep -rnE 'memcg_internal|memcg_objects' "$libpath/cmake/memcg" >&2
  exit 1
fi

build_type=()
[[ -z "$config" ]] && build_type=(-DCMAKE_BUILD_TYPE=Release)

cmake_consumer() {  # name, extra configure args...
  local name="$1"; shift
  local bdir="$tmp/consumer-$name"
  step "consumer ($name): find_package(memcg CONFIG) $*"
  "$cmake_bin" -S "$consumer_dir" -B "$bdir" "${gen_args[@]}" "${build_type[@]}" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@" \
    >"$bdir.configure.log" 2>&1 || { cat "$bdir.configure.log"; exit 1; }
  grep -E '^-- memcg ' "$bdir.configure.log" || true
  "$cmake_bin" --build "$bdir" "${config_args[@]}" >"$bdir.build.log" 2>&1 \
    || { cat "$bdir.build.log"; exit 1; }
  local exe
  exe="$(find "$bdir" -type f -name consumer -perm -u+x | head -n1)"
  [[ -n "$exe" ]] || { echo "consumer executable not found under $bdir" >&2; exit 1; }
  "$exe"
}

cmake_consumer shared
# The shared consumer must really use libmemcg.so from the prefix.
ldd "$(find "$tmp/consumer-shared" -type f -name consumer -perm -u+x | head -n1)" | grep -F "$libpath/libmemcg.so" \
  || { echo "shared consumer does not load $libpath/libmemcg.so" >&2; exit 1; }
cmake_consumer static -DMEMCG_USE_STATIC=ON
if ldd "$(find "$tmp/consumer-static" -type f -name consumer -perm -u+x | head -n1)" | grep -q libmemcg; then
  echo "MEMCG_USE_STATIC=ON consumer still loads libmemcg.so" >&2; exit 1
fi

export PKG_CONFIG_PATH="$libpath/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
step "consumer (pkg-config): PKG_CONFIG_PATH=$libpath/pkgconfig"
echo "pkg-config --cflags --libs memcg: $(pkg-config --cflags --libs memcg)"
read -r -a pc_flags <<<"$(pkg-config --cflags --libs memcg)"
"$cxx" -std=c++20 -O1 "$consumer_dir/main.cpp" -o "$tmp/consumer-pc" "${pc_flags[@]}" -Wl,-rpath,"$libpath"
"$tmp/consumer-pc"

step "consumer (pkg-config --static)"
read -r -a pc_static <<<"$(pkg-config --static --cflags --libs memcg)"
# -lmemcg would pick the .so: name the archive instead, keep the rest.
static_flags=()
for f in "${pc_static[@]}"; do
  if [[ "$f" == -lmemcg ]]; then static_flags+=("$libpath/libmemcg.a"); else static_flags+=("$f"); fi
done
echo "link flags: ${static_flags[*]}"
"$cxx" -std=c++20 -O1 "$consumer_dir/main.cpp" -o "$tmp/consumer-pc-static" "${static_flags[@]}"
if ldd "$tmp/consumer-pc-static" | grep -q libmemcg; then
  echo "static consumer still loads libmemcg.so" >&2; exit 1
fi
"$tmp/consumer-pc-static"

step "install test passed"
