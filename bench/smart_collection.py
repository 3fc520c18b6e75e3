"""smart_collection.py - read a test collection in the classic SMART layout (e.g. CISI).

A collection folder holds *.ALL (documents), *.QRY (queries) and *.REL
(judgements: "query_id doc_id ..." per line; every listed pair is relevant).
Records start with ".I id"; fields start with ".X" lines (.T title, .W text,
.A, .B, .X ...). Only .T and .W are text.
"""
import glob
import os
import re

FIELD = re.compile(r"^\.([A-Z])(?:\s+(\S+))?\s*$")


def parse_records(path):
    recs, cur, field = {}, None, None
    with open(path, encoding="latin-1") as f:
        for line in f:
            line = line.rstrip("\n")
            m = FIELD.match(line)
            if m and m.group(1) == "I":
                cur = {"T": [], "W": []}
                recs[int(m.group(2))] = cur
                field = None
            elif m and cur is not None:
                field = m.group(1)
            elif cur is not None and field in ("T", "W"):
                cur[field].append(line.strip())
    return {i: {"title": " ".join(r["T"]).strip(), "text": " ".join(r["W"]).strip()} for i, r in recs.items()}


def load(folder):
    """(docs, queries, qrels): docs {id: {title, text}}, queries {id: text}, qrels {qid: set(docids)}."""
    def one(pattern):
        found = glob.glob(os.path.join(folder, pattern))
        if len(found) != 1:
            raise SystemExit("%s: expected one %s file, found %d" % (folder, pattern, len(found)))
        return found[0]
    docs = parse_records(one("*.ALL"))
    queries = {i: (q["title"] + " " + q["text"]).strip() for i, q in parse_records(one("*.QRY")).items()}
    qrels = {}
    with open(one("*.REL")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                qrels.setdefault(int(parts[0]), set()).add(int(parts[1]))
    queries = {i: q for i, q in queries.items() if i in qrels and q}
    return docs, queries, qrels


def write_docs(docs, folder):
    """One text file per document: title line, blank line, text."""
    os.makedirs(folder, exist_ok=True)
    for i, d in docs.items():
        with open(os.path.join(folder, "%06d.txt" % i), "w", encoding="utf-8") as f:
            f.write((d["title"] or "Document %d" % i) + "\n\n" + d["text"] + "\n")


def doc_id_of(url):
    return int(os.path.basename(url).split(".")[0])
