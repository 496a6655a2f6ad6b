#!/usr/bin/env bash
# check_package_target.sh - every build output that `cmake --install` copies is
# built by the target memcg_package (cmake/install.cmake), so that an install
# after `cmake --build <dir> --target memcg_package` (what scripts/demo.sh, the
# quick start, builds) finds all its files.
#   check_package_target.sh --build-dir D --ninja NINJA
# Reads the install scripts (cmake_install.cmake) for the files they copy out
# of the build tree, keeps those that a ninja edge produces (configure-time
# files such as memcg.pc exist without a build) and looks each one up in
# the target's inputs, direct and recursive. A symlink (libmemcg.so ->
# libmemcg.so.0 -> libmemcg.so.0.1.0) counts as its target.
# Registered by tests/install/CMakeLists.txt for Ninja builds (label install).
set -euo pipefail

build_dir="" ninja_bin="ninja"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --ninja)     ninja_bin="$2"; shift 2 ;;
    *) echo "check_package_target.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n "$build_dir" ]] || { echo "usage: check_package_target.sh --build-dir D [--ninja N]" >&2; exit 2; }
build_dir="$(cd "$build_dir" && pwd -P)"
cd "$build_dir"

mapfile -t installed < <(find . -name cmake_install.cmake -print0 \
  | xargs -0 grep -ho "\"$build_dir/[^\"]*\"" | tr -d '"' | sort -u)
[[ ${#installed[@]} -gt 0 ]] || { echo "no installed build-tree files found under $build_dir" >&2; exit 1; }

# `-t inputs` lists the inputs of the target's inputs, recursively; the
# target's own (phony) inputs come from `-t query`.
inputs="$("$ninja_bin" -t inputs memcg_package)
$("$ninja_bin" -t query memcg_package | sed -n '/^  input:/,/^  outputs:/s/^    \(|| \?\|| \?\)\?//p')"
checked=0 missing=()
for f in "${installed[@]}"; do
  rel="${f#"$build_dir"/}"
  "$ninja_bin" -t query "$rel" >/dev/null 2>&1 || continue  # not a build output
  [[ -L "$f" ]] && rel="$(realpath --relative-to="$build_dir" "$f")"
  checked=$((checked + 1))
  grep -qxF "$rel" <<<"$inputs" || missing+=("$rel")
done

echo "install copies ${#installed[@]} build-tree files, $checked of them built by ninja"
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "not built by memcg_package (add the target in cmake/install.cmake):" >&2
  printf '  %s\n' "${missing[@]}" | sort -u >&2
  exit 1
fi
[[ $checked -ge 3 ]] || { echo "expected at least libmemcg.a, libmemcg.so and libmemcg_preload.so" >&2; exit 1; }
echo "memcg_package builds every installed build output"
