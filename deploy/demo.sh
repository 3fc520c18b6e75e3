#!/usr/bin/env bash
# demo.sh - the quick-start job (`make demo`).
# The indexer and the HTTP service are not built yet: for now the demo
# shows the binaries' help. It grows into crawl -> index -> serve -> query.
set -euo pipefail
cd "$(dirname "$0")/.."
bin/ragd-index --help
bin/ragd-serve --help
