#!/usr/bin/env bash
# build-faiss.sh - build FAISS and its C API from Debian's faiss source package.
#
# Debian's libfaiss-dev ships the C API headers but not the compiled C API,
# and its libfaiss.a targets baseline x86-64 (SSE only). So we fetch the
# same source package (apt-get source, with a deb-src list derived from the
# system's own apt sources and kept under build/, never touching /etc/apt),
# and build libfaiss_avx2.a (or the generic libfaiss.a on a CPU without
# AVX2) plus libfaiss_c.a linked against it. The result is cached: when
# build/faiss/lib/libfaiss_c.a exists, this does nothing.
#
# Output: build/faiss/lib/{libfaiss_c.a,libfaiss_core.a}, build/faiss/include/
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/faiss"
[ -f "$out/lib/libfaiss_c.a" ] && [ -f "$out/lib/libfaiss_core.a" ] && exit 0

work="$top/build/faiss-src"
rm -rf "$work" "$out"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources.list.d"
cd "$work"

# deb-src entries from the system's own sources (deb822 or one-line format).
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && sed 's/^Types:.*$/Types: deb-src/' "$f" > "apt/sources.list.d/$(basename "$f")"
done
: > apt/sources.list
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^deb \(.*\)$/deb-src \1/p' "$f" >> apt/sources.list
done
APT=(apt-get -q -o "Dir::Etc::SourceList=$work/apt/sources.list"
     -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
     -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
     -o "APT::Sandbox::User=root")
echo "faiss: fetching Debian's faiss source package" >&2
"${APT[@]}" update >/dev/null
"${APT[@]}" source --download-only faiss >/dev/null
dpkg-source -x faiss_*.dsc src >/dev/null

if grep -qw avx2 /proc/cpuinfo; then opt=avx2; lib=faiss_avx2; else opt=generic; lib=faiss; fi
# The C API links the generic `faiss` target; point it at the one we build
# so that only one FAISS library is compiled.
sed -i "s/target_link_libraries(faiss_c PRIVATE faiss)/target_link_libraries(faiss_c PRIVATE $lib)/" \
  src/c_api/CMakeLists.txt

echo "faiss: building $lib and faiss_c (opt level $opt); takes a few minutes" >&2
start=$(date +%s)
cmake -S src -B cmake -DCMAKE_BUILD_TYPE=Release -DFAISS_OPT_LEVEL=$opt \
  -DFAISS_ENABLE_C_API=ON -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF \
  -DBUILD_TESTING=OFF -DBLA_VENDOR=OpenBLAS >cmake.log 2>&1 || { tail -30 cmake.log; exit 1; }
cmake --build cmake -j"$(nproc)" --target "$lib" faiss_c >build.log 2>&1 || { tail -30 build.log; exit 1; }

mkdir -p "$out/lib" "$out/include/faiss"
cp "cmake/faiss/lib$lib.a" "$out/lib/libfaiss_core.a"
cp cmake/c_api/libfaiss_c.a "$out/lib/libfaiss_c.a"
cp -r src/c_api "$out/include/faiss/c_api"
echo "faiss: built in $(( $(date +%s) - start ))s -> $out" >&2
