/* wordpiece.c - the BERT uncased tokenizer, token for token as Hugging Face's */
#include "wordpiece.h"

#include <string.h>
#include <utf8proc.h>

#include "err.h"
#include "fsio.h"
#include "mem.h"
#include "strmap.h"


struct wordpiece {
    strmap *vocab; /* token -> id + 1 */
    int size;
    int lowercase;
    int cls, sep, unk;
};

wordpiece *wp_load(const char *vocab_path, int lowercase, char *err) {
    char *buf;
    size_t len;
    if (fsio_read_file(vocab_path, 16u << 20, &buf, &len, err) != 0) return NULL;
    wordpiece *wp = mem_calloc(1, sizeof(*wp));
    wp->vocab = strmap_new();
    wp->lowercase = lowercase;
    for (char *line = buf, *next; line < buf + len; line = next) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        next = nl ? nl + 1 : buf + len;
        if (nl) *nl = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[n - 1] = '\0';
        /* Duplicates keep the first id, as HF's vocab loading does. */
        if (!strmap_has(wp->vocab, line)) strmap_put(wp->vocab, line, (void *)(intptr_t)(wp->size + 1));
        wp->size++;
    }
    mem_free(buf);
    wp->cls = wp_token_id(wp, "[CLS]");
    wp->sep = wp_token_id(wp, "[SEP]");
    wp->unk = wp_token_id(wp, "[UNK]");
    if (wp->cls < 0 || wp->sep < 0 || wp->unk < 0) {
        err_set(err, "%s: vocabulary lacks [CLS], [SEP] or [UNK]", vocab_path);
        wp_free(wp);
        return NULL;
    }
    return wp;
}

int wp_token_id(const wordpiece *wp, const char *token) {
    return (int)(intptr_t)strmap_get(wp->vocab, token) - 1;
}

int wp_vocab_size(const wordpiece *wp) {
    return wp->size;
}

static int is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN:
        return 1;
    default:
        return 0;
    }
}

/* Rust's char::is_whitespace, restricted to what survives is_control. */
static int is_whitespace(int32_t c) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
    utf8proc_category_t cat = utf8proc_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

static int is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* Growable codepoint buffer. */
typedef struct cps {
    int32_t *v;
    size_t n, cap;
} cps;

static void cps_push(cps *b, int32_t c) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->v = mem_realloc(b->v, sizeof(int32_t) * b->cap);
    }
    b->v[b->n++] = c;
}

/* Append one input codepoint after normalisation (accents, case). */
static void push_normalised(const wordpiece *wp, cps *out, int32_t c) {
    if (!wp->lowercase) {
        cps_push(out, c);
        return;
    }
    int32_t dec[32];
    int boundclass = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char(c, dec, 32, UTF8PROC_DECOMPOSE, &boundclass);
    if (n < 0 || n > 32) dec[0] = c, n = 1;
    for (utf8proc_ssize_t i = 0; i < n; i++) {
        if (utf8proc_category(dec[i]) == UTF8PROC_CATEGORY_MN) continue; /* strip accents */
        cps_push(out, utf8proc_tolower(dec[i]));
    }
}

/* Normalise text into codepoints, with spaces around CJK characters. */
static void normalise(const wordpiece *wp, const char *text, size_t len, cps *out) {
    const uint8_t *p = (const uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) {
            /* Invalid UTF-8 reaches the tokenizer as U+FFFD, which is dropped. */
            i++;
            continue;
        }
        i += (size_t)n;
        if (c == 0 || c == 0xFFFD || is_control(c)) continue;
        if (is_whitespace(c)) {
            cps_push(out, ' ');
        } else if (is_cjk(c)) {
            cps_push(out, ' ');
            push_normalised(wp, out, c);
            cps_push(out, ' ');
        } else {
            push_normalised(wp, out, c);
        }
    }
}

/* WordPiece over one word (codepoints w[0..n)); emits ids via emit(). */
static void word_pieces(const wordpiece *wp, const int32_t *w, size_t n, void (*emit)(void *, int32_t), void *ctx) {
    if (n > WP_MAX_WORD_CHARS) {
        emit(ctx, wp->unk);
        return;
    }
    /* UTF-8 of the word with codepoint offsets, so substrings are cheap. */
    char buf[WP_MAX_WORD_CHARS * 4 + 3];
    size_t off[WP_MAX_WORD_CHARS + 1], bl = 0;
    for (size_t i = 0; i < n; i++) {
        off[i] = bl;
        bl += (size_t)utf8proc_encode_char(w[i], (utf8proc_uint8_t *)buf + bl);
    }
    off[n] = bl;
    int32_t pieces[WP_MAX_WORD_CHARS];
    int np = 0;
    size_t start = 0;
    char token[WP_MAX_WORD_CHARS * 4 + 3];
    while (start < n) {
        size_t end = n;
        int found = -1;
        while (end > start) {
            size_t tl = 0;
            if (start > 0) memcpy(token, "##", 2), tl = 2;
            memcpy(token + tl, buf + off[start], off[end] - off[start]);
            tl += off[end] - off[start];
            token[tl] = '\0';
            found = wp_token_id(wp, token);
            if (found >= 0) break;
            end--;
        }
        if (found < 0) {
            emit(ctx, wp->unk);
            return;
        }
        pieces[np++] = found;
        start = end;
    }
    for (int i = 0; i < np; i++) emit(ctx, pieces[i]);
}

/* Split normalised codepoints into words and punctuation; run WordPiece. */
static void tokenize(const wordpiece *wp, const char *text, size_t len, void (*emit)(void *, int32_t), void *ctx) {
    cps c = {0};
    normalise(wp, text, len, &c);
    size_t i = 0;
    while (i < c.n) {
        if (c.v[i] == ' ') {
            i++;
            continue;
        }
        if (is_punct(c.v[i])) {
            word_pieces(wp, &c.v[i], 1, emit, ctx);
            i++;
            continue;
        }
        size_t j = i;
        while (j < c.n && c.v[j] != ' ' && !is_punct(c.v[j])) j++;
        word_pieces(wp, &c.v[i], j - i, emit, ctx);
        i = j;
    }
    mem_free(c.v);
}

typedef struct sink {
    int32_t *ids;
    int n, max;
} sink;

static void emit_id(void *ctx, int32_t id) {
    sink *s = ctx;
    if (s->ids && s->n < s->max) s->ids[s->n] = id;
    s->n++;
}

int wp_encode(const wordpiece *wp, const char *text, size_t len, int32_t *ids, int max_len) {
    if (max_len < 2) return 0;
    sink s = {.ids = ids + 1, .max = max_len - 2};
    tokenize(wp, text, len, emit_id, &s);
    int n = s.n < s.max ? s.n : s.max;
    ids[0] = wp->cls;
    ids[n + 1] = wp->sep;
    return n + 2;
}

int wp_count(const wordpiece *wp, const char *text, size_t len) {
    sink s = {0};
    tokenize(wp, text, len, emit_id, &s);
    return s.n;
}

void wp_free(wordpiece *wp) {
    if (!wp) return;
    strmap_free(wp->vocab, NULL);
    mem_free(wp);
}
