"""make_minilm_fixture.py - write the golden fixture test_minilm checks ragd's encoder against.

Runs the reference implementation (sentence-transformers on PyTorch) on the
model folder that `make model` installs and writes, for every text in
texts.py, the token ids of its tokenizer (truncated to max_seq_length, as
encode() does) and the embedding; and for the first 16 texts the embedding
with CLS pooling instead of mean pooling (test_minilm checks ragd's CLS
path with it). Run it through
make_minilm_fixture.sh, which creates the virtualenv.
"""
import json
import os
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

try:  # sentence-transformers >= 6 moved the modules
    from sentence_transformers.sentence_transformer.modules import Pooling
except ImportError:
    from sentence_transformers.models import Pooling

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from texts import TEXTS  # noqa: E402

model_dir, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
model = SentenceTransformer(model_dir, device="cpu")
tok = model.tokenizer
ids = [tok(t, truncation=True, max_length=model.max_seq_length)["input_ids"] for t in TEXTS]
vecs = model.encode(TEXTS, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
# The same weights with CLS pooling (as bge-small-en-v1.5 and other BERT
# models configure in 1_Pooling/config.json), for the first CLS_TEXTS texts.
CLS_TEXTS = 16
word = model[0]
dim = word.get_embedding_dimension() if hasattr(word, "get_embedding_dimension") else word.get_word_embedding_dimension()
cls_model = SentenceTransformer(modules=[word, Pooling(dim, pooling_mode="cls")], device="cpu")
cls_vecs = cls_model.encode(TEXTS[:CLS_TEXTS], batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
fixture = {
    "model": os.path.basename(os.path.normpath(model_dir)),
    "generator": "sentence-transformers %s, torch %s" % (sentence_transformers.__version__, torch.__version__),
    "max_seq_length": model.max_seq_length,
    "texts": TEXTS,
    "ids": ids,
    "vectors": [[float("%.7g" % x) for x in v] for v in vecs.tolist()],
    "cls_vectors": [[float("%.7g" % x) for x in v] for v in cls_vecs.tolist()],
}
with open(out, "w", encoding="utf-8") as f:
    json.dump(fixture, f, ensure_ascii=True, separators=(",", ":"))
    f.write("\n")
print("wrote %s: %d texts" % (out, len(TEXTS)))
