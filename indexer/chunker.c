/* chunker.c - split a document into token-bounded chunks by structure */
#include "chunker.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "err.h"
#include "mem.h"

enum split_level { SPLIT_SENTENCE = 0, SPLIT_WORD = 1, SPLIT_BYTES = 2 };

typedef struct piece {
    size_t start, end;
    int tokens;
} piece;

typedef struct chunker {
    const document *d;
    embedder *e;
    int budget, overlap;
    piece *p;
    int np, pcap;
    chunk_span *out;
    int nout, outcap;
} chunker;

static int count(chunker *c, size_t start, size_t end) {
    return end > start ? embedder_count_tokens(c->e, c->d->text + start, end - start) : 0;
}

static void push_piece(chunker *c, size_t start, size_t end, int tokens) {
    if (c->np == c->pcap) {
        c->pcap = c->pcap ? c->pcap * 2 : 64;
        c->p = mem_realloc(c->p, sizeof(piece) * (size_t)c->pcap);
    }
    c->p[c->np++] = (piece){start, end, tokens};
}

static int is_space(char ch) {
    return isspace((unsigned char)ch);
}

/* End of the next unit starting at `at` (exclusive), by level. */
static size_t unit_end(const char *t, size_t at, size_t end, enum split_level lv, int pre) {
    size_t i = at;
    if (lv == SPLIT_WORD) {
        while (i < end && !is_space(t[i])) i++;
        return i;
    }
    for (; i < end; i++) {
        if (pre && t[i] == '\n') return i + 1;
        if (!pre && (t[i] == '.' || t[i] == '!' || t[i] == '?') && i + 1 < end && is_space(t[i + 1]))
            return i + 1;
    }
    return end;
}

/* Bytes level: halve at a UTF-8 boundary until each part fits. */
static void split_bytes(chunker *c, size_t start, size_t end) {
    int tokens = count(c, start, end);
    if (tokens <= c->budget || end - start <= 4) {
        push_piece(c, start, end, tokens);
        return;
    }
    size_t mid = start + (end - start) / 2;
    while (mid > start && ((unsigned char)c->d->text[mid] & 0xc0) == 0x80) mid--;
    if (mid == start) mid = start + (end - start) / 2;
    split_bytes(c, start, mid);
    split_bytes(c, mid, end);
}

/* Split [start,end) into units of level lv and pack them into pieces that
 * fit the budget; a unit too big alone is split at the next level. */
static void split_range(chunker *c, size_t start, size_t end, enum split_level lv, int pre) {
    const char *t = c->d->text;
    size_t gs = start, ge = start; /* current group */
    int gtok = 0;
    size_t at = start;
    while (at < end) {
        while (at < end && is_space(t[at])) at++;
        if (at >= end) break;
        size_t ue = unit_end(t, at, end, lv, pre);
        int utok = count(c, at, ue);
        if (utok > c->budget) {
            if (ge > gs) push_piece(c, gs, ge, gtok);
            if (lv == SPLIT_SENTENCE) split_range(c, at, ue, SPLIT_WORD, pre);
            else split_bytes(c, at, ue);
            gs = ge = ue;
            gtok = 0;
        } else if (ge > gs && gtok + utok > c->budget) {
            push_piece(c, gs, ge, gtok);
            gs = at, ge = ue, gtok = utok;
        } else {
            if (ge == gs) gs = at;
            ge = ue;
            gtok += utok;
        }
        at = ue;
    }
    if (ge > gs) push_piece(c, gs, ge, gtok);
}

static void emit(chunker *c, size_t start, size_t end, int tokens, const char *headings) {
    if (c->nout == c->outcap) {
        c->outcap = c->outcap ? c->outcap * 2 : 16;
        c->out = mem_realloc(c->out, sizeof(chunk_span) * (size_t)c->outcap);
    }
    c->out[c->nout++] = (chunk_span){start, end, tokens, mem_strdup(headings)};
}

/* Start of the longest word-aligned tail of [start,end) with at most
 * `limit` tokens (end if none fits). */
static size_t overlap_start(chunker *c, size_t start, size_t end, int limit) {
    const char *t = c->d->text;
    size_t best = end, i = end;
    while (i > start) {
        while (i > start && is_space(t[i - 1])) i--;
        while (i > start && !is_space(t[i - 1])) i--;
        if (i <= start || count(c, i, end) > limit) break;
        best = i;
    }
    return best;
}

/* Pack this section's pieces into chunks, with overlap between them. */
static void pack(chunker *c, const char *headings) {
    size_t prev_start = 0, prev_end = 0;
    int have_prev = 0;
    for (int i = 0; i < c->np;) {
        size_t cs = c->p[i].start;
        int tokens = 0;
        if (have_prev && c->overlap > 0) {
            size_t os = overlap_start(c, prev_start, prev_end, c->overlap);
            int ot = os < prev_end ? count(c, os, c->p[i].start) : 0;
            if (os < prev_end && os > prev_start && ot + c->p[i].tokens <= c->budget) {
                cs = os;
                tokens = ot;
            }
        }
        int j = i;
        while (j < c->np && (j == i || tokens + c->p[j].tokens <= c->budget)) tokens += c->p[j++].tokens;
        emit(c, cs, c->p[j - 1].end, tokens, headings);
        prev_start = cs;
        prev_end = c->p[j - 1].end;
        have_prev = 1;
        i = j;
    }
    c->np = 0;
}

static void chunk_section(chunker *c, int first, int last, const char *headings) {
    const doc_block *b = c->d->blocks;
    int content = 0;
    for (int i = first; i <= last; i++) content |= b[i].kind != DOC_HEADING;
    if (!content) return; /* headings alone say nothing a path does not */
    size_t start = b[first].start, end = b[last].end;
    int tokens = count(c, start, end);
    if (tokens == 0) return;
    if (tokens <= c->budget) {
        emit(c, start, end, tokens, headings);
        return;
    }
    for (int i = first; i <= last; i++) {
        int bt = count(c, b[i].start, b[i].end);
        if (bt <= c->budget) {
            if (bt > 0) push_piece(c, b[i].start, b[i].end, bt);
        } else {
            split_range(c, b[i].start, b[i].end, SPLIT_SENTENCE, b[i].kind == DOC_PRE);
        }
    }
    pack(c, headings);
}

static char *path_json(const document *d, const int *stack, int depth) {
    json_t *a = json_array();
    for (int i = 0; i < depth; i++) {
        const doc_block *h = &d->blocks[stack[i]];
        json_array_append_new(a, json_stringn(d->text + h->start, h->end - h->start));
    }
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    char *out = mem_strdup(s ? s : "[]");
    free(s);
    return out;
}

int chunker_check_opts(const chunker_opts *o, const embedder *e, char *err) {
    if (o->max_tokens < 8) return err_set(err, "chunk tokens %d: must be at least 8", o->max_tokens);
    if (e && o->max_tokens > embedder_max_tokens(e))
        return err_set(err, "chunk tokens %d: embedder %s takes at most %d", o->max_tokens, embedder_model_id(e),
                       embedder_max_tokens(e));
    if (o->overlap < 0 || o->overlap > o->max_tokens / 2)
        return err_set(err, "chunk overlap %d: must be 0..%d (half the chunk size)", o->overlap, o->max_tokens / 2);
    return RAGD_OK;
}

int chunker_split(const document *d, embedder *e, const chunker_opts *o, chunk_span **out, int *n, char *err) {
    *out = NULL;
    *n = 0;
    if (chunker_check_opts(o, e, err) != 0) return RAGD_ERR;
    chunker c = {.d = d, .e = e, .budget = o->max_tokens, .overlap = o->overlap};
    int stack[CHUNKER_MAX_HEADING_DEPTH] = {0}, depth = 0;
    int first = 0, has_content = 0;
    char *path = path_json(d, stack, 0);
    for (int i = 0; i < d->n_blocks; i++) {
        const doc_block *b = &d->blocks[i];
        if (b->kind != DOC_HEADING) {
            has_content = 1;
            continue;
        }
        int parent_only = i > first && !has_content && d->blocks[i - 1].kind == DOC_HEADING &&
                          d->blocks[i - 1].level < b->level;
        if (i > first && !parent_only) {
            chunk_section(&c, first, i - 1, path);
            first = i;
        }
        if (i == 0) first = 0;
        has_content = 0;
        while (depth > 0 && d->blocks[stack[depth - 1]].level >= b->level) depth--;
        if (depth < CHUNKER_MAX_HEADING_DEPTH) stack[depth++] = i;
        mem_free(path);
        path = path_json(d, stack, depth);
    }
    if (d->n_blocks > first) chunk_section(&c, first, d->n_blocks - 1, path);
    mem_free(path);
    mem_free(c.p);
    *out = c.out;
    *n = c.nout;
    return RAGD_OK;
}

void chunker_free(chunk_span *c, int n) {
    for (int i = 0; c && i < n; i++) mem_free(c[i].headings);
    mem_free(c);
}
