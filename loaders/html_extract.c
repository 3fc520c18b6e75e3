/* html_extract.c - HTML to a document with libxml2's HTML parser */
#include "html_extract.h"

#include <ctype.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "mem.h"

#define HTML_MAX_DEPTH 512

/* Text being gathered for the current block. */
typedef struct textbuf {
    char *s;
    size_t len, cap;
    int space; /* a space is pending before the next word */
} textbuf;

typedef struct walker {
    document *d;
    textbuf cur;
} walker;

static void tb_putc_raw(textbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = mem_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Append text collapsing whitespace runs into one space. */
static void tb_add_collapsed(textbuf *b, const char *s) {
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            b->space = 1;
            continue;
        }
        if (b->space && b->len > 0) tb_putc_raw(b, " ", 1);
        b->space = 0;
        tb_putc_raw(b, s, 1);
    }
}

static void flush_block(walker *w, enum doc_block_kind kind, int level) {
    doc_add_block(w->d, kind, level, w->cur.s ? w->cur.s : "", w->cur.len);
    w->cur.len = 0;
    w->cur.space = 0;
}

static int name_is(const xmlNode *n, const char *name) {
    return n->name && xmlStrcasecmp(n->name, (const xmlChar *)name) == 0;
}

static int name_in(const xmlNode *n, const char *const *names) {
    for (; *names; names++)
        if (name_is(n, *names)) return 1;
    return 0;
}

static char *attr(const xmlNode *n, const char *name) {
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v) return NULL;
    char *s = mem_strdup((const char *)v);
    xmlFree(v);
    return s;
}

/* Inline style hides the element? Spaces and case do not matter. */
static int style_hides(const char *style) {
    char buf[512];
    size_t n = 0;
    for (const char *p = style; *p && n + 1 < sizeof(buf); p++)
        if (!isspace((unsigned char)*p)) buf[n++] = (char)tolower((unsigned char)*p);
    buf[n] = '\0';
    return strstr(buf, "display:none") != NULL || strstr(buf, "visibility:hidden") != NULL;
}

static int is_dropped(const xmlNode *n) {
    static const char *const drop[] = {"script", "style", "nav", "header", "footer", "aside", "noscript",
                                       "template", "iframe", "object", "embed", "svg", "canvas", "form",
                                       "button", "select", "textarea", "input", "head", NULL};
    static const char *const drop_roles[] = {"navigation", "banner", "contentinfo", "complementary",
                                             "search", NULL};
    if (name_in(n, drop)) return 1;
    if (xmlHasProp(n, (const xmlChar *)"hidden")) return 1;
    int hidden = 0;
    char *v = attr(n, "aria-hidden");
    if (v && strcasecmp(v, "true") == 0) hidden = 1;
    mem_free(v);
    v = attr(n, "style");
    if (v && style_hides(v)) hidden = 1;
    mem_free(v);
    v = attr(n, "role");
    for (int i = 0; v && drop_roles[i]; i++)
        if (strcasecmp(v, drop_roles[i]) == 0) hidden = 1;
    mem_free(v);
    return hidden;
}

static int is_block(const xmlNode *n) {
    static const char *const blocks[] = {"p", "div", "section", "article", "main", "blockquote", "li", "ul",
                                         "ol", "dl", "dt", "dd", "table", "tr", "thead", "tbody", "caption",
                                         "figure", "figcaption", "details", "summary", "address", "hr", "br",
                                         "body", "center", "fieldset", "h1", "h2", "h3", "h4", "h5", "h6",
                                         NULL};
    return name_in(n, blocks);
}

static int heading_level(const xmlNode *n) {
    if (n->name && (n->name[0] == 'h' || n->name[0] == 'H') && n->name[1] >= '1' && n->name[1] <= '6' &&
        n->name[2] == '\0')
        return n->name[1] - '0';
    return 0;
}

/* Text of a subtree as one line (for headings and the title). */
static void gather_text(const xmlNode *n, textbuf *b, int depth) {
    for (const xmlNode *c = n; c && depth < HTML_MAX_DEPTH; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content) tb_add_collapsed(b, (const char *)c->content);
        } else if (c->type == XML_ELEMENT_NODE && !is_dropped(c)) {
            gather_text(c->children, b, depth + 1);
            if (name_is(c, "br")) b->space = 1;
        }
    }
}

/* Raw text of a pre subtree, whitespace kept. */
static void gather_pre(const xmlNode *n, textbuf *b, int depth) {
    for (const xmlNode *c = n; c && depth < HTML_MAX_DEPTH; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content) tb_putc_raw(b, (const char *)c->content, strlen((const char *)c->content));
        } else if (c->type == XML_ELEMENT_NODE && !is_dropped(c)) {
            if (name_is(c, "br")) tb_putc_raw(b, "\n", 1);
            gather_pre(c->children, b, depth + 1);
        }
    }
}

/* Trim a trailing pilcrow: doc generators (Sphinx, MkDocs) append a "¶"
 * permalink to headings. */
static void trim_heading(textbuf *b) {
    while (b->len > 0 && b->s[b->len - 1] == ' ') b->len--;
    if (b->len >= 2 && (unsigned char)b->s[b->len - 2] == 0xc2 && (unsigned char)b->s[b->len - 1] == 0xb6)
        b->len -= 2;
    while (b->len > 0 && b->s[b->len - 1] == ' ') b->len--;
    if (b->s) b->s[b->len] = '\0';
}

static void walk(walker *w, const xmlNode *n, int depth);

static void walk_element(walker *w, const xmlNode *c, int depth) {
    int level = heading_level(c);
    if (level) {
        flush_block(w, DOC_PARAGRAPH, 0);
        gather_text(c->children, &w->cur, depth + 1);
        trim_heading(&w->cur);
        flush_block(w, DOC_HEADING, level);
    } else if (name_is(c, "pre")) {
        flush_block(w, DOC_PARAGRAPH, 0);
        gather_pre(c->children, &w->cur, depth + 1);
        /* Drop leading/trailing blank lines, keep inner layout. */
        size_t a = 0;
        while (a < w->cur.len && (w->cur.s[a] == '\n' || w->cur.s[a] == '\r')) a++;
        size_t e = w->cur.len;
        while (e > a && isspace((unsigned char)w->cur.s[e - 1])) e--;
        doc_add_block(w->d, DOC_PRE, 0, w->cur.s ? w->cur.s + a : "", e - a);
        w->cur.len = 0;
    } else if (is_block(c)) {
        flush_block(w, DOC_PARAGRAPH, 0);
        walk(w, c->children, depth + 1);
        flush_block(w, DOC_PARAGRAPH, 0);
    } else {
        if (name_is(c, "td") || name_is(c, "th")) w->cur.space = 1;
        walk(w, c->children, depth + 1);
    }
}

static void walk(walker *w, const xmlNode *n, int depth) {
    if (depth >= HTML_MAX_DEPTH) return;
    for (const xmlNode *c = n; c; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content) tb_add_collapsed(&w->cur, (const char *)c->content);
        } else if (c->type == XML_ELEMENT_NODE && !is_dropped(c)) {
            walk_element(w, c, depth);
        }
    }
}

/* First element matching pred in document order (depth-bounded). */
static const xmlNode *find(const xmlNode *n, int (*pred)(const xmlNode *), int depth) {
    for (const xmlNode *c = n; c && depth < HTML_MAX_DEPTH; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (pred(c)) return c;
        const xmlNode *r = find(c->children, pred, depth + 1);
        if (r) return r;
    }
    return NULL;
}

static int is_main(const xmlNode *n) {
    if (name_is(n, "main")) return 1;
    char *role = attr(n, "role");
    int yes = role && strcasecmp(role, "main") == 0;
    mem_free(role);
    return yes;
}

static int is_article(const xmlNode *n) {
    return name_is(n, "article");
}

static int is_body(const xmlNode *n) {
    return name_is(n, "body");
}

static int is_title(const xmlNode *n) {
    return name_is(n, "title");
}

static int is_h1(const xmlNode *n) {
    return heading_level(n) == 1;
}

/* Collect every <a href>, <area href> and <base href> in the page. */
static void collect_links(document *d, const xmlNode *n, int depth) {
    for (const xmlNode *c = n; c && depth < HTML_MAX_DEPTH; c = c->next) {
        if (c->type != XML_ELEMENT_NODE) continue;
        if (name_is(c, "a") || name_is(c, "area")) {
            char *href = attr(c, "href");
            char *rel = attr(c, "rel");
            if (href && !(rel && strstr(rel, "nofollow"))) doc_add_link(d, href);
            mem_free(href);
            mem_free(rel);
        } else if (name_is(c, "base") && !d->base_href) {
            d->base_href = attr(c, "href");
        } else if (name_is(c, "meta")) {
            /* <meta name="author" content="..."> (or property="og:type") */
            char *name = attr(c, "name"), *content = attr(c, "content");
            if (!name) name = attr(c, "property");
            if (name && content) doc_add_meta(d, name, strlen(name), content, strlen(content));
            mem_free(name);
            mem_free(content);
        }
        collect_links(d, c->children, depth + 1);
    }
}

static void set_title(document *d, const xmlNode *root) {
    textbuf b = {0};
    const xmlNode *t = find(root, is_title, 0);
    if (t) gather_text(t->children, &b, 0);
    if (b.len == 0 && (t = find(root, is_h1, 0)) != NULL) {
        gather_text(t->children, &b, 0);
        trim_heading(&b);
    }
    doc_set_title(d, b.len ? b.s : d->url);
    mem_free(b.s);
}

int html_extract(const char *html, size_t len, const char *url, const char *charset, document *d, char *err) {
    if (len > (size_t)INT32_MAX) return err_set(err, "%s: page too large to parse", url);
    int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET;
    htmlDocPtr doc = htmlReadMemory(html, (int)len, url, charset, opts);
    if (!doc && charset) doc = htmlReadMemory(html, (int)len, url, NULL, opts); /* unknown charset name */
    if (!doc) return err_set(err, "%s: HTML could not be parsed", url);
    xmlNode *root = xmlDocGetRootElement(doc);
    doc_init(d, url);
    if (root) {
        set_title(d, root);
        collect_links(d, root, 0);
        const xmlNode *start = find(root, is_main, 0);
        if (!start) start = find(root, is_article, 0);
        if (!start) start = find(root, is_body, 0);
        walker w = {.d = d};
        if (start) walk_element(&w, start, 0);
        else walk(&w, root, 0);
        flush_block(&w, DOC_PARAGRAPH, 0);
        mem_free(w.cur.s);
    } else {
        doc_set_title(d, url);
    }
    xmlFreeDoc(doc);
    doc_finish(d);
    return RAGD_OK;
}
