#!/usr/bin/env bash
# demo.sh - the quick-start job (`make demo`): crawl a real docs site, index, serve, query.
#
# Serves Debian's Python 3.11 HTML documentation on 127.0.0.1, crawls it
# with ragd-index into var/demo-index, starts ragd-serve on it, asks one
# question through the REST API and prints the answer. The index stays in
# var/demo-index: `bin/ragd-serve --index var/demo-index` serves it again.
# EMBEDDER=hash|minilm picks the embedder (default: minilm when its model is
# installed under models/, else hash). QUERY=... changes the question;
# PRECISION=fp32|bf16|auto the minilm precision (default auto).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCS=/usr/share/doc/python3.11/html
INDEX=var/demo-index
QUERY=${QUERY:-"how do I read a file line by line"}
if [ -z "${EMBEDDER:-}" ]; then
  if [ -f models/all-MiniLM-L6-v2/model.safetensors ] && bin/ragd-index --help | grep minilm >/dev/null; then
    EMBEDDER=minilm
  else
    EMBEDDER=hash
  fi
fi
[ -f "$DOCS/index.html" ] || { echo "demo: $DOCS missing (run make deps)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

mkdir -p var
site_port=$(free_port)
python3 -m http.server "$site_port" --bind 127.0.0.1 --directory "$DOCS" >var/demo-site.log 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$site_port/" >/dev/null && break; sleep 0.1; done

echo "== crawling http://127.0.0.1:$site_port/ (Python 3.11 docs) with the $EMBEDDER embedder"
start=$(date +%s.%N)
bin/ragd-index build --out "$INDEX" --source "http://127.0.0.1:$site_port/" --embedder "$EMBEDDER" \
  --concurrency 4 --report var/demo-report.json --log-level warn ${PRECISION:+--precision "$PRECISION"}
end=$(date +%s.%N)
python3 - "$start" "$end" <<'PY'
import json, sys
r = json.load(open("var/demo-report.json"))
secs = float(sys.argv[2]) - float(sys.argv[1])
p, c = r["pages"], r["chunks"]
print("   %d pages fetched, %d skipped, %d failed; %d chunks (%d embedded) in %.1f s; version %s"
      % (p["fetched"], p["skipped"], p["failed"], c["total"], c["embedded"], secs, r["version_id"]))
m = json.load(open("var/demo-index/current/manifest.json"))["embedder"]
print("   embedder %s%s; embedding %.1f s summed over the workers"
      % (m["model_id"], " (%s)" % m["precision"] if m.get("precision") else "", r["durations_ms"].get("embed", 0) / 1000))
PY

serve_port=$(free_port)
bin/ragd-serve --index "$INDEX" --port "$serve_port" --no-access-log --log-level warn &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$serve_port/ready" >/dev/null && break; sleep 0.1; done

echo "== GET /v1/search?q=$QUERY&k=3"
curl -fsG "http://127.0.0.1:$serve_port/v1/search" --data-urlencode "q=$QUERY" -d k=3 | python3 -c '
import json, sys
r = json.load(sys.stdin)
for i, h in enumerate(r["results"], 1):
    print("%d. %.3f  %s  (found by %s)" % (i, h["score"], h["title"], " + ".join(h.get("found_by", [r["mode"]]))))
    print("   %s  (%s)" % (h["url"], " > ".join(h["headings"])))
    print("   " + " ".join(h["text"].split())[:160] + "...")
t = r["timings"]
print("mode %s, index_version %s, took %.1f ms (embed %.1f, search %.1f, keyword %.1f, fetch %.1f)" % (
      r["mode"], r["index_version"], r["took_ms"], t["embed_ms"], t["search_ms"], t["keyword_ms"], t["fetch_ms"]))'
echo "== serve it yourself: bin/ragd-serve --index $INDEX --port 8080"
