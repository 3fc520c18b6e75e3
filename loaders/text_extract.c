/* text_extract.c - Markdown and plain text files to a document */
#include "text_extract.h"

#include <ctype.h>
#include <string.h>
#include <utf8proc.h>

#include "mem.h"

char *utf8_sanitize(const char *s, size_t len, size_t *out_len) {
    char *out = mem_alloc(len * 3 + 1);
    size_t o = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        if (cp != 0) {
            memcpy(out + o, s + i, (size_t)n);
            o += (size_t)n;
        }
        i += (size_t)n;
    }
    out[o] = '\0';
    if (out_len) *out_len = o;
    return out;
}

typedef struct para {
    char *s;
    size_t len, cap;
} para;

static void para_add_line(para *p, const char *line, size_t n) {
    while (n > 0 && isspace((unsigned char)line[n - 1])) n--;
    while (n > 0 && isspace((unsigned char)*line)) line++, n--;
    if (n == 0) return;
    if (p->len + n + 2 > p->cap) {
        p->cap = (p->len + n + 2) * 2;
        p->s = mem_realloc(p->s, p->cap);
    }
    if (p->len) p->s[p->len++] = ' ';
    memcpy(p->s + p->len, line, n);
    p->len += n;
}

static void para_flush(para *p, document *d, enum doc_block_kind kind, int level) {
    if (p->len) doc_add_block(d, kind, level, p->s, p->len);
    p->len = 0;
}

static int atx_level(const char *line, size_t n, size_t *text_at) {
    size_t i = 0;
    while (i < n && i < 7 && line[i] == '#') i++;
    if (i == 0 || i > 6 || (i < n && line[i] != ' ' && line[i] != '\t')) return 0;
    *text_at = i;
    return (int)i;
}

static int is_fence(const char *line, size_t n) {
    while (n > 0 && *line == ' ') line++, n--;
    return n >= 3 && (strncmp(line, "```", 3) == 0 || strncmp(line, "~~~", 3) == 0);
}

/* YAML front matter ("---" line, "key: value" lines, "---" or "..."):
 * scalar values become metadata; the block is not text. Returns the
 * offset after it (0 when there is none). Nested and list values are
 * skipped. */
static size_t front_matter(const char *s, size_t len, document *d) {
    if (len < 4 || memcmp(s, "---", 3) != 0 || (s[3] != '\n' && s[3] != '\r')) return 0;
    size_t start = s[3] == '\r' && len > 4 && s[4] == '\n' ? 5 : 4;
    for (int pass = 0; pass < 2; pass++) { /* 0: find the closing line; 1: read the entries */
        for (size_t at = start; at < len;) {
            const char *nl = memchr(s + at, '\n', len - at);
            size_t n = nl ? (size_t)(nl - (s + at)) : len - at;
            const char *line = s + at;
            at += n + (nl ? 1 : 0);
            if (n && line[n - 1] == '\r') n--;
            if (n == 3 && (!memcmp(line, "---", 3) || !memcmp(line, "...", 3))) {
                if (pass == 1) return at;
                break;
            }
            if (at >= len && pass == 0) return 0; /* never closed: not front matter */
            const char *colon = pass ? memchr(line, ':', n) : NULL;
            if (!colon || line[0] == ' ' || line[0] == '\t' || line[0] == '-' || line[0] == '#') continue;
            size_t kl = (size_t)(colon - line), vs = kl + 1;
            while (vs < n && (line[vs] == ' ' || line[vs] == '\t')) vs++;
            size_t ve = n;
            while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t')) ve--;
            if (ve - vs >= 2 && (line[vs] == '"' || line[vs] == '\'') && line[ve - 1] == line[vs]) vs++, ve--;
            if (ve > vs && line[vs] != '[' && line[vs] != '{' && line[vs] != '|' && line[vs] != '>')
                doc_add_meta(d, line, kl, line + vs, ve - vs);
        }
    }
    return 0;
}

static void extract_markdown(const char *s, size_t len, document *d) {
    para p = {0}, code = {0};
    int in_code = 0;
    size_t skip = front_matter(s, len, d);
    s += skip;
    len -= skip;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(s + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (s + at)) : len - at;
        const char *line = s + at;
        at += n + (nl ? 1 : 0);
        size_t text_at;
        int level;
        if (is_fence(line, n)) {
            if (in_code) {
                if (code.len) doc_add_block(d, DOC_PRE, 0, code.s, code.len);
                code.len = 0;
            } else {
                para_flush(&p, d, DOC_PARAGRAPH, 0);
            }
            in_code = !in_code;
        } else if (in_code) {
            if (code.len + n + 2 > code.cap) {
                code.cap = (code.len + n + 2) * 2;
                code.s = mem_realloc(code.s, code.cap);
            }
            if (code.len) code.s[code.len++] = '\n';
            memcpy(code.s + code.len, line, n);
            code.len += n;
        } else if ((level = atx_level(line, n, &text_at)) > 0) {
            para_flush(&p, d, DOC_PARAGRAPH, 0);
            para_add_line(&p, line + text_at, n - text_at);
            while (p.len && p.s[p.len - 1] == '#') p.len--; /* closing #s */
            while (p.len && p.s[p.len - 1] == ' ') p.len--;
            if (level == 1 && !d->title && p.len) {
                d->title = mem_strndup(p.s, p.len);
            }
            para_flush(&p, d, DOC_HEADING, level);
        } else if (n == 0 || strspn(line, " \t\r") == n) {
            para_flush(&p, d, DOC_PARAGRAPH, 0);
        } else {
            para_add_line(&p, line, n);
        }
    }
    if (in_code && code.len) doc_add_block(d, DOC_PRE, 0, code.s, code.len);
    para_flush(&p, d, DOC_PARAGRAPH, 0);
    mem_free(p.s);
    mem_free(code.s);
}

static void extract_plain(const char *s, size_t len, document *d) {
    para p = {0};
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(s + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (s + at)) : len - at;
        const char *line = s + at;
        at += n + (nl ? 1 : 0);
        if (strspn(line, " \t\r") >= n) para_flush(&p, d, DOC_PARAGRAPH, 0);
        else para_add_line(&p, line, n);
    }
    para_flush(&p, d, DOC_PARAGRAPH, 0);
    mem_free(p.s);
    if (d->n_blocks > 0) {
        /* Title: the first paragraph's first 120 bytes, cut at a space. */
        size_t n = d->blocks[0].end - d->blocks[0].start;
        if (n > 120) {
            n = 120;
            while (n > 60 && d->text[d->blocks[0].start + n] != ' ') n--;
            while (n > 0 && ((unsigned char)d->text[d->blocks[0].start + n] & 0xc0) == 0x80) n--;
        }
        d->title = mem_strndup(d->text + d->blocks[0].start, n);
    }
}

void text_extract(const char *buf, size_t len, const char *url, enum text_format fmt, document *d) {
    size_t n;
    char *s = utf8_sanitize(buf, len, &n);
    doc_init(d, url);
    if (fmt == TEXT_MARKDOWN) extract_markdown(s, n, d);
    else extract_plain(s, n, d);
    if (!d->title) {
        const char *slash = strrchr(url, '/');
        d->title = mem_strdup(slash && slash[1] ? slash + 1 : url);
    }
    mem_free(s);
    doc_finish(d);
}
