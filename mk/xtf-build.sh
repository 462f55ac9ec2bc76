#!/bin/sh
# Build XTF's HVM test images for hvsim's test suite (`make xtf`, run by `make test`).
#
#   mk/xtf-build.sh SRC DEST JOBS
#
# SRC is an XTF source tree (read-only is fine); DEST (build/xtf) receives a
# copy of it, built there: tests/<name>/test-<env>-<name> for the four HVM
# environments, their xl configs (test-<env>-<name>[~variation].cfg) and
# tests/<name>/info.json.  The copy is rebuilt from scratch
# only when SRC changed (its file list, sizes and times) or is another tree;
# otherwise this does nothing.  Without SRC it says how to get one and exits
# 0 (removing an earlier build), or 1 when HVSIM_REQUIRE_XTF=1 (CI, where
# ../shared/xtf always exists and the XTF tests must run).
set -e
src=$1 dest=$2 jobs=${3:-2}
mk=$(cd "$(dirname "$0")" && pwd)

if [ -z "$src" ] || [ ! -f "$src/Makefile" ] || [ ! -d "$src/tests" ]; then
    echo "hvsim: no XTF source${src:+ at $src}: the XTF tests will skip;" \
         "get XTF (git clone https://xenbits.xen.org/git-http/xtf.git) and run" \
         "'make test XTF_SRC=/path/to/xtf'" >&2
    [ "$HVSIM_REQUIRE_XTF" = 1 ] && { echo "hvsim: HVSIM_REQUIRE_XTF=1: XTF is required" >&2; exit 1; }
    rm -rf "$dest"      # a build from an earlier source would not be what was asked for
    exit 0
fi
src=$(cd "$src" && pwd)
stamp="$dest/.hvsim-built"
signature=$( { echo "$src"; cat "$mk/xtf-build.sh" "$mk/xtf-hvm-all.mk" "$mk/xtf-hvm-test.mk";
               cd "$src" && find . -type f -printf '%P %s %T@\n' | LC_ALL=C sort; } | cksum)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$signature" ]; then
    exit 0
fi
echo "hvsim: building XTF's HVM images from $src in $dest"
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -a "$src" "$dest"
chmod -R u+w "$dest"
if ! make -C "$dest" -f Makefile -f "$mk/xtf-hvm-all.mk" -j"$jobs" hvm-images >"$dest/build.log" 2>&1; then
    tail -n 20 "$dest/build.log" >&2
    echo "hvsim: building XTF failed (the whole log: $dest/build.log)" >&2
    exit 1
fi
echo "$signature" >"$stamp"
echo "hvsim: built $(ls "$dest"/tests/*/test-hvm* | grep -vc '\.cfg$') XTF HVM images"
