#!/usr/bin/env bash
# check_install.sh - installs a memcg build tree into a temporary prefix and
# builds + runs two consumers against it: tests/install/consumer (C++20, the
# C++ API) and tests/install/consumer_c (strict C11, the C API, memcg/memcg.h):
#   1. CMake, find_package(memcg CONFIG)            (memcg::memcg -> shared library)
#   2. CMake, find_package(memcg CONFIG), MEMCG_USE_STATIC=ON (static library)
#   3. pkg-config: $CXX -std=c++20 main.cpp $(pkg-config --cflags --libs memcg)
#   4. pkg-config --static: the same with --static, which must give libmemcg.a
#      and its private dependencies, and no libmemcg.so (DT_NEEDED)
# each for the C++ consumer and, with $CC -std=c11 -pedantic -Werror, the C one.
# The shared builds must load libmemcg.so from the prefix; the static builds
# must not need it at all.
# Registered by tests/install/CMakeLists.txt (ctest label "install").
# Exit codes: 0 pass, 77 skipped (sanitizer build), anything else fails.
set -euo pipefail

build_dir="" consumer_dir="" consumer_c_dir="" config="" generator="" cmake_bin="cmake"
cxx="${CXX:-g++}" cc="${CC:-cc}"
libdir="lib" skip=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir)    build_dir="$2"; shift 2 ;;
    --consumer-dir) consumer_dir="$2"; shift 2 ;;
    --consumer-c-dir) consumer_c_dir="$2"; shift 2 ;;
    --cc)           cc="$2"; shift 2 ;;
    --config)       config="$2"; shift 2 ;;
    --generator)    generator="$2"; shift 2 ;;
    --cmake)        cmake_bin="$2"; shift 2 ;;
    --cxx)          cxx="$2"; shift 2 ;;
    --libdir)       libdir="$2"; shift 2 ;;
    --skip)         skip="$2"; shift 2 ;;
    *) echo "check_install.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$build_dir" && -n "$consumer_dir" && -n "$consumer_c_dir" ]] \
  || { echo "usage: check_install.sh --build-dir D --consumer-dir D --consumer-c-dir D [...]" >&2; exit 2; }
c_strict=(-std=c11 -Wall -Wextra -Werror -pedantic)

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
for f in include/memcg/memcg.hpp include/memcg/group.hpp include/memcg/memcg.h \
         share/doc/memcg/LICENSE share/doc/memcg/README.md share/doc/memcg/CHANGELOG.md; do
  [[ -f "$prefix/$f" ]] || { echo "missing $prefix/$f" >&2; exit 1; }
done
for f in libmemcg.a libmemcg.so libmemcg.so.0 libmemcg_preload.so pkgconfig/memcg.pc pkgconfig/memcg-shared.pc \
         cmake/memcg/memcgConfig.cmake cmake/memcg/memcgConfigVersion.cmake cmake/memcg/memcgTargets.cmake; do
  [[ -e "$libpath/$f" ]] || { echo "missing $libpath/$f" >&2; exit 1; }
done
# SONAME: libmemcg.so.<SOVERSION> (README: Packaging).
readelf -d "$libpath/libmemcg.so" | grep -F '[libmemcg.so.0]' \
  || { echo "libmemcg.so has no SONAME libmemcg.so.0" >&2; exit 1; }
# The C API is in the main library, in both forms.
for lib in libmemcg.so libmemcg.a; do
  nm -g --defined-only "$libpath/$lib" | grep -w memcg_group_create >/dev/null \
    || { echo "$lib does not define the C API (memcg_group_create)" >&2; exit 1; }
done
if grep -rqE 'memcg_internal|memcg_objects' "$libpath/cmake/memcg"; then
  echo "exported targets reference build-tree-only targets:" >&2
  grep -rnE 'memcg_internal|memcg_objects' "$libpath/cmake/memcg" >&2
  exit 1
fi

build_type=()
[[ -z "$config" ]] && build_type=(-DCMAKE_BUILD_TYPE=Release)

cmake_consumer() {  # name, source dir, executable name, extra configure args...
  local name="$1" src="$2" exe_name="$3"; shift 3
  local bdir="$tmp/consumer-$name"
  step "consumer ($name): find_package(memcg CONFIG) $*"
  "$cmake_bin" -S "$src" -B "$bdir" "${gen_args[@]}" "${build_type[@]}" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF "$@" \
    >"$bdir.configure.log" 2>&1 || { cat "$bdir.configure.log"; exit 1; }
  grep -E '^-- memcg ' "$bdir.configure.log" || true
  "$cmake_bin" --build "$bdir" "${config_args[@]}" >"$bdir.build.log" 2>&1 \
    || { cat "$bdir.build.log"; exit 1; }
  local exe
  exe="$(find "$bdir" -type f -name "$exe_name" -perm -u+x | head -n1)"
  [[ -n "$exe" ]] || { echo "$exe_name executable not found under $bdir" >&2; exit 1; }
  "$exe"
  built="$exe"
}

# DT_NEEDED of a binary, one name a line.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
expect_shared() {  # binary: loads libmemcg.so from the prefix
  ldd "$1" | grep -F "$libpath/libmemcg.so" \
    || { echo "$1 does not load $libpath/libmemcg.so" >&2; exit 1; }
}
expect_static() {  # binary: libmemcg linked in, not needed at run time
  if needed "$1" | grep libmemcg >/dev/null; then
    echo "$1 still needs libmemcg.so:" >&2; needed "$1" >&2; exit 1
  fi
  nm "$1" | grep -w _ZN5memcg7barrierEv >/dev/null || { echo "$1 does not contain the library" >&2; exit 1; }
}

built=""
cmake_consumer shared "$consumer_dir" consumer
expect_shared "$built"
cmake_consumer static "$consumer_dir" consumer -DMEMCG_USE_STATIC=ON
expect_static "$built"
cmake_consumer c-shared "$consumer_c_dir" consumer_c
expect_shared "$built"
cmake_consumer c-static "$consumer_c_dir" consumer_c -DMEMCG_USE_STATIC=ON
expect_static "$built"

export PKG_CONFIG_PATH="$libpath/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
step "consumers (pkg-config): PKG_CONFIG_PATH=$libpath/pkgconfig"
echo "pkg-config --cflags --libs memcg: $(pkg-config --cflags --libs memcg)"
read -r -a pc_flags <<<"$(pkg-config --cflags --libs memcg)"
"$cxx" -std=c++20 -O1 "$consumer_dir/main.cpp" -o "$tmp/consumer-pc" "${pc_flags[@]}" -Wl,-rpath,"$libpath"
expect_shared "$tmp/consumer-pc"
"$tmp/consumer-pc"
"$cc" "${c_strict[@]}" -O1 "$consumer_c_dir/main.c" -o "$tmp/consumer-c-pc" "${pc_flags[@]}" -Wl,-rpath,"$libpath"
expect_shared "$tmp/consumer-c-pc"
"$tmp/consumer-c-pc"

step "consumers (pkg-config --static)"
echo "pkg-config --static --cflags --libs memcg: $(pkg-config --static --cflags --libs memcg)"
read -r -a pc_static <<<"$(pkg-config --static --cflags --libs memcg)"
archive=""
for f in "${pc_static[@]}"; do
  [[ "$f" == */libmemcg.a ]] && archive="$(realpath "$f")"
done
[[ "$archive" == "$(realpath "$libpath/libmemcg.a")" ]] \
  || { echo "pkg-config --static does not name $libpath/libmemcg.a" >&2; exit 1; }
for dep in -lurcu-bp -lfmt -pthread; do
  printf '%s\n' "${pc_static[@]}" | grep -qxF -- "$dep" \
    || { echo "pkg-config --static lacks $dep" >&2; exit 1; }
done
# Used as given: no rewriting of -lmemcg (the .pc files order the archive first
# and scope --as-needed to the shared library). --no-as-needed first: the
# linker default of most distributions, under which a bare -lmemcg after the
# archive would still make the program need libmemcg.so.
"$cxx" -std=c++20 -O1 "$consumer_dir/main.cpp" -o "$tmp/consumer-pc-static" -Wl,--no-as-needed "${pc_static[@]}"
expect_static "$tmp/consumer-pc-static"
"$tmp/consumer-pc-static"
"$cc" "${c_strict[@]}" -O1 "$consumer_c_dir/main.c" -o "$tmp/consumer-c-pc-static" -Wl,--no-as-needed "${pc_static[@]}"
expect_static "$tmp/consumer-c-pc-static"
"$tmp/consumer-c-pc-static"

step "install test passed"
