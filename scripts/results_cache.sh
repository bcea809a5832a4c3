#!/usr/bin/env bash
# The committed benchmarks' per-item score pieces, packed: git keeps one archive per suite
# (results/**/work/SUITE/cache.tar.gz) instead of thousands of small JSON files, and the
# reports' reruns resume from them once unpacked.
#
#   bash scripts/results_cache.sh unpack   # every archive -> its cache/ directory (files already there are kept)
#   bash scripts/results_cache.sh pack     # every cache/ directory -> its archive (after a run added pieces)
#
# The archives are reproducible (sorted names, fixed times and owners, gzip -n): packing an
# unchanged cache rewrites the same bytes. cache/ directories are ignored by git. The
# ladder's own pieces (results/ladder/*/work) stay out of git altogether, as before.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:?usage: results_cache.sh pack|unpack}" in
  unpack)
    find results -path '*/work/*' -name cache.tar.gz | sort | while read -r archive; do
      dir=$(dirname "$archive")
      tar -xzf "$archive" -C "$dir" --skip-old-files
    done ;;
  pack)
    find results -path '*/work/*' -not -path 'results/ladder/*' -type d -name cache | sort | while read -r cache; do
      dir=$(dirname "$cache")
      tmp=$(mktemp "$dir/.cache.tar.gz.XXXXXX")
      tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$dir" -cf - cache | gzip -n -9 > "$tmp"
      chmod 644 "$tmp" && mv "$tmp" "$dir/cache.tar.gz"
    done ;;
  *) echo "results_cache.sh: unknown command '$1' (pack or unpack)" >&2; exit 2 ;;
esac
