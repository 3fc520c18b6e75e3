"""make_minilm_fixture.py - write the golden fixture test_minilm checks ragd's encoder against.

Runs the reference implementation (sentence-transformers on PyTorch) on the
model folder that `make model` installs and writes, for every text in
texts.py, the token ids of its tokenizer (truncated to max_seq_length, as
encode() does) and the normalised embedding. Run it through
make_minilm_fixture.sh, which creates the virtualenv.
"""
import json
import os
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from texts import TEXTS  # noqa: E402

model_dir, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(1)
model = SentenceTransformer(model_dir, device="cpu")
tok = model.tokenizer
ids = [tok(t, truncation=True, max_length=model.max_seq_length)["input_ids"] for t in TEXTS]
vecs = model.encode(TEXTS, batch_size=16, convert_to_numpy=True, normalize_embeddings=False)
fixture = {
    "model": os.path.basename(os.path.normpath(model_dir)),
    "generator": "sentence-transformers %s, torch %s" % (sentence_transformers.__version__, torch.__version__),
    "max_seq_length": model.max_seq_length,
    "texts": TEXTS,
    "ids": ids,
    "vectors": [[float("%.7g" % x) for x in v] for v in vecs.tolist()],
}
with open(out, "w", encoding="utf-8") as f:
    json.dump(fixture, f, ensure_ascii=True, separators=(",", ":"))
    f.write("\n")
print("wrote %s: %d texts" % (out, len(TEXTS)))
