"""onnx_embed.py - ONNX Runtime as a peer of ragd's encoder (runs in the bench venv).

Exports all-MiniLM-L6-v2 from the same model folder ragd loads (the
transformers BertModel, traced by torch.onnx.export) to
build/bench/onnx/model-fp32.onnx, and quantises that with ONNX Runtime's
quantize_dynamic (QInt8 weights, dynamic uint8 activations: what the
ONNX Runtime docs recommend for transformers on CPU) to model-int8.onnx.
Embeds like sentence-transformers: tokenizer from the same folder, 256
tokens at most, mean pooling over the attention mask, L2 normalisation.

    python onnx_embed.py --model DIR --texts T.txt --queries Q.txt --quant int8 --interleave

answers embed_bench's commands on stdin (bench/run.py alternates engines):
    batch FROM TO         {"s": seconds, "texts": n}     (--threads intra-op threads, 32 texts per run,
                                                           sorted by length as sentence-transformers does)
    queries FROM TO       {"ms": [...]}                   (each query alone, one thread)
    vectors FROM TO PATH  raw float32 rows to PATH        {"texts": n}
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def export(model_dir, out_dir):
    """model-fp32.onnx and model-int8.onnx in out_dir (made once, reused)."""
    fp32 = os.path.join(out_dir, "model-fp32.onnx")
    int8 = os.path.join(out_dir, "model-int8.onnx")
    if not os.path.exists(fp32):
        import torch
        from transformers import AutoModel
        os.makedirs(out_dir, exist_ok=True)
        bert = AutoModel.from_pretrained(model_dir).eval()

        class Wrap(torch.nn.Module):  # keyword arguments: BertModel.forward's order varies across versions
            def __init__(self):
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state
        m = Wrap().eval()
        ids = torch.ones(2, 16, dtype=torch.long)
        axes = {0: "batch", 1: "seq"}
        tmp = "%s.tmp%d" % (fp32, os.getpid())  # make bench starts the fp32 and int8 engines at once
        with torch.no_grad():
            torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), tmp,
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                              dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                            "last_hidden_state": axes})
        os.replace(tmp, fp32)
    if not os.path.exists(int8):
        from onnxruntime.quantization import QuantType, quantize_dynamic
        tmp = "%s.tmp%d.onnx" % (int8, os.getpid())
        quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8)
        os.replace(tmp, int8)
    return fp32, int8


class Engine:
    def __init__(self, model_dir, path, threads):
        import onnxruntime as ort
        from transformers import AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(model_dir)

        def session(n):
            o = ort.SessionOptions()
            o.intra_op_num_threads = n
            o.inter_op_num_threads = 1
            o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
        self.batch_sess = session(threads)
        self.single_sess = session(1)

    def embed(self, texts, sess):
        t = self.tok(texts, padding=True, truncation=True, max_length=256, return_tensors="np")
        feed = {"input_ids": t["input_ids"].astype(np.int64), "attention_mask": t["attention_mask"].astype(np.int64),
                "token_type_ids": np.zeros_like(t["input_ids"], dtype=np.int64)}
        h = sess.run(["last_hidden_state"], feed)[0]
        mask = feed["attention_mask"][:, :, None].astype(np.float32)
        v = (h * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--quant", choices=["fp32", "int8"], default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bench",
                                                   "onnx"))
    ap.add_argument("--interleave", action="store_true")
    a = ap.parse_args()
    fp32, int8 = export(a.model, a.work)
    e = Engine(a.model, int8 if a.quant == "int8" else fp32, a.threads)
    texts = [l.rstrip("\n") for l in open(a.texts)]
    queries = [l.rstrip("\n") for l in open(a.queries)]
    e.embed(texts[:32], e.batch_sess)  # warm up
    for line in sys.stdin:
        w = line.split()
        cmd, lo, hi = w[0], int(w[1]), int(w[2])
        if cmd == "batch":
            # Longest first, as sentence-transformers' encode does, so a
            # batch of 32 pads to similar lengths (time includes the sort).
            t = time.perf_counter()
            order = sorted(range(lo, hi), key=lambda i: -len(texts[i]))
            for i in range(0, len(order), a.batch):
                e.embed([texts[j] for j in order[i:i + a.batch]], e.batch_sess)
            reply = {"s": time.perf_counter() - t, "texts": hi - lo}
        elif cmd == "queries":
            lat = []
            for q in queries[lo:hi]:
                t = time.perf_counter()
                e.embed([q], e.single_sess)
                lat.append((time.perf_counter() - t) * 1000)
            reply = {"ms": lat}
        elif cmd == "vectors":
            v = np.concatenate([e.embed(texts[i:min(hi, i + a.batch)], e.batch_sess) for i in range(lo, hi, a.batch)])
            v.astype(np.float32).tofile(w[3])
            reply = {"texts": hi - lo}
        else:
            print("onnx_embed: unknown command: " + line, file=sys.stderr)
            return 2
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
