/* sitemap.c - the <loc> URLs of a sitemap or sitemap index (libxml2), no I/O */
#include "sitemap.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "url.h"

/* Every <loc> under n, in document order (iteratively: a hostile file may
 * nest elements deeply). */
static void collect(const xmlNode *root, sitemap *s) {
    const xmlNode *n = root;
    while (n && s->n < SITEMAP_MAX_LOCS) {
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)"loc") == 0) {
            xmlChar *v = xmlNodeGetContent(n);
            char *u = v ? url_normalize((const char *)v) : NULL;
            xmlFree(v);
            if (u) {
                s->locs = mem_realloc(s->locs, sizeof(char *) * (size_t)(s->n + 1));
                s->locs[s->n++] = u;
            }
        } else if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            continue;
        }
        while (n && !n->next && n != root) n = n->parent;
        if (!n || n == root) break;
        n = n->next;
    }
}

int sitemap_parse(const char *body, size_t len, const char *url, sitemap *out) {
    memset(out, 0, sizeof(*out));
    if (!body || len >= (size_t)INT32_MAX) return -1;
    xmlDocPtr doc = xmlReadMemory(body, (int)len, url, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root) {
        xmlFreeDoc(doc);
        return -1;
    }
    out->is_index = xmlStrcmp(root->name, (const xmlChar *)"sitemapindex") == 0;
    collect(root, out);
    xmlFreeDoc(doc);
    return 0;
}

void sitemap_clear(sitemap *s) {
    for (int i = 0; i < s->n; i++) mem_free(s->locs[i]);
    mem_free(s->locs);
    memset(s, 0, sizeof(*s));
}
