#!/usr/bin/env bash
# setup_venv.sh - the Python side of the benchmarks: the seed stack and the reference embedder.
#
# Creates build/bench-venv (or $SEED_VENV) with sentence-transformers (and
# torch), LangChain's FAISS vectorstore and HuggingFace embeddings,
# faiss-cpu, FastAPI and uvicorn, ONNX Runtime and onnx (the encoder peer,
# bench/onnx_embed.py), all from PyPI; and build/chroma-venv (or
# $CHROMA_VENV) with Chroma's server and client (chromadb, pinned: the
# peers section compares against that release) and numpy. Used by make
# bench / make eval only; make test needs none of it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${SEED_VENV:-$top/build/bench-venv}
if ! command -v gnuplot >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get install -y -qq gnuplot-nox >/dev/null
fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import sentence_transformers, langchain_community, langchain_huggingface, faiss, fastapi, uvicorn, onnxruntime, onnx" 2>/dev/null; then
  echo "bench: installing the seed stack into $venv (PyTorch is large; this takes minutes)" >&2
  "$venv/bin/pip" install --quiet sentence-transformers langchain-community langchain-huggingface faiss-cpu fastapi uvicorn \
    onnxruntime onnx
fi
chroma=${CHROMA_VENV:-$top/build/chroma-venv}
chroma_version=1.5.9
[ -x "$chroma/bin/python" ] || python3 -m venv "$chroma"
if ! "$chroma/bin/python" -c "import chromadb, numpy; assert chromadb.__version__ == '$chroma_version'" 2>/dev/null; then
  echo "bench: installing Chroma $chroma_version into $chroma" >&2
  "$chroma/bin/pip" install --quiet "chromadb==$chroma_version" numpy
fi
