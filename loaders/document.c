/* document.c - one extracted document: title, text in blocks, links */
#include "document.h"

#include <string.h>

#include "mem.h"
#include "text_extract.h"

#define DOC_MAX_LINKS 10000

void doc_init(document *d, const char *url) {
    memset(d, 0, sizeof(*d));
    d->url = mem_strdup(url);
    d->text = mem_alloc(1);
    d->text[0] = '\0';
}

/* Text reaches the index, JSON answers and the embedders: whatever a page
 * declared, only valid UTF-8 goes in (invalid bytes become U+FFFD). */
void doc_add_block(document *d, enum doc_block_kind kind, int level, const char *raw, size_t raw_len) {
    if (raw_len == 0) return;
    size_t len;
    char *text = utf8_sanitize(raw, raw_len, &len);
    if (len == 0) {
        mem_free(text);
        return;
    }
    size_t need = d->text_len + len + 3;
    if (need > d->text_cap) {
        d->text_cap = need * 2;
        d->text = mem_realloc(d->text, d->text_cap);
    }
    if (d->n_blocks > 0) {
        memcpy(d->text + d->text_len, "\n\n", 2);
        d->text_len += 2;
    }
    if (d->n_blocks == d->blocks_cap) {
        d->blocks_cap = d->blocks_cap ? d->blocks_cap * 2 : 32;
        d->blocks = mem_realloc(d->blocks, sizeof(doc_block) * (size_t)d->blocks_cap);
    }
    doc_block *b = &d->blocks[d->n_blocks++];
    b->start = d->text_len;
    b->end = d->text_len + len;
    b->kind = kind;
    b->level = level;
    memcpy(d->text + d->text_len, text, len);
    d->text_len += len;
    d->text[d->text_len] = '\0';
    mem_free(text);
}

void doc_add_link(document *d, const char *href) {
    if (d->n_links >= DOC_MAX_LINKS) return;
    if (d->n_links == d->links_cap) {
        d->links_cap = d->links_cap ? d->links_cap * 2 : 64;
        d->links = mem_realloc(d->links, sizeof(char *) * (size_t)d->links_cap);
    }
    d->links[d->n_links++] = mem_strdup(href);
}

void doc_set_title(document *d, const char *title) {
    mem_free(d->title);
    d->title = utf8_sanitize(title, strlen(title), NULL);
}

void doc_finish(document *d) {
    sha256_ctx c;
    sha256_init(&c);
    const char *t = d->title ? d->title : "";
    sha256_update(&c, t, strlen(t) + 1);
    sha256_update(&c, d->text, d->text_len);
    sha256_final_hex(&c, d->hash);
}

void doc_add_meta(document *d, const char *name, size_t name_len, const char *value, size_t value_len) {
    if (d->n_meta >= DOC_META_MAX || name_len == 0 || name_len > DOC_META_NAME_MAX) return;
    char n[DOC_META_NAME_MAX + 1];
    for (size_t i = 0; i < name_len; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-'))
            return;
        n[i] = c;
    }
    n[name_len] = '\0';
    for (int i = 0; i < d->n_meta; i++)
        if (!strcmp(d->meta_names[i], n)) return;
    if (value_len > DOC_META_VALUE_MAX) value_len = DOC_META_VALUE_MAX;
    d->meta_names = mem_realloc(d->meta_names, sizeof(char *) * (size_t)(d->n_meta + 1));
    d->meta_values = mem_realloc(d->meta_values, sizeof(char *) * (size_t)(d->n_meta + 1));
    d->meta_names[d->n_meta] = mem_strdup(n);
    d->meta_values[d->n_meta] = utf8_sanitize(value, value_len, NULL);
    d->n_meta++;
}

void doc_clear(document *d) {
    if (!d) return;
    mem_free(d->url);
    mem_free(d->title);
    mem_free(d->text);
    mem_free(d->blocks);
    for (int i = 0; i < d->n_links; i++) mem_free(d->links[i]);
    mem_free(d->links);
    mem_free(d->base_href);
    mem_free(d->etag);
    mem_free(d->last_modified);
    for (int i = 0; i < d->n_meta; i++) mem_free(d->meta_names[i]), mem_free(d->meta_values[i]);
    mem_free(d->meta_names);
    mem_free(d->meta_values);
    memset(d, 0, sizeof(*d));
}
