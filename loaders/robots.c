/* robots.c - robots.txt (RFC 9309) parsing and matching */
#include "robots.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

#define ROBOTS_MAX_RULES 10000

typedef struct rule {
    char *pattern;
    int allow;
} rule;

struct robots {
    int disallow_all;
    rule *rules;
    int n_rules;
    char **sitemaps;
    int n_sitemaps;
    long crawl_delay_ms; /* -1: none given */
};

robots *robots_allow_all(void) {
    robots *r = mem_calloc(1, sizeof(robots));
    r->crawl_delay_ms = -1;
    return r;
}

robots *robots_disallow_all(void) {
    robots *r = robots_allow_all();
    r->disallow_all = 1;
    return r;
}

static void add_rule(robots *r, const char *pattern, int allow) {
    if (r->n_rules >= ROBOTS_MAX_RULES) return;
    r->rules = mem_realloc(r->rules, sizeof(rule) * (size_t)(r->n_rules + 1));
    r->rules[r->n_rules++] = (rule){mem_strdup(pattern), allow};
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

/* Does a user-agent line name us? "*" is handled by the caller. */
static int agent_matches(const char *value, const char *token) {
    size_t n = strcspn(value, " \t/");
    return n == strlen(token) && strncasecmp(value, token, n) == 0;
}

/* Crawl-delay: seconds, possibly fractional ("0.5"); nonsense is ignored,
 * the largest of several values in the groups that apply wins. */
static void set_crawl_delay(robots *r, const char *value) {
    char *end;
    double secs = strtod(value, &end);
    if (end == value || *trim(end) || !(secs >= 0) || secs > 86400) return;
    long ms = (long)(secs * 1000.0 + 0.5);
    if (ms > r->crawl_delay_ms) r->crawl_delay_ms = ms;
}

typedef struct parse_state {
    int in_agents; /* reading consecutive user-agent lines */
    int group_ours, group_star;
    int have_ours; /* some group named us: ignore "*" groups */
} parse_state;

/* Two passes: the first learns whether any group names us. */
static void parse_pass(robots *r, const char *txt, size_t len, const char *token, int pass, parse_state *st) {
    st->in_agents = 0;
    st->group_ours = st->group_star = 0;
    char line[2048];
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(txt + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (txt + at)) : len - at;
        size_t copy = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
        memcpy(line, txt + at, copy);
        line[copy] = '\0';
        at += n + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = '\0';
        char *key = trim(line), *value = trim(colon + 1);
        if (strcasecmp(key, "user-agent") == 0) {
            if (!st->in_agents) st->group_ours = st->group_star = 0;
            st->in_agents = 1;
            if (strcmp(value, "*") == 0) st->group_star = 1;
            else if (agent_matches(value, token)) st->group_ours = 1, st->have_ours |= pass == 0;
        } else if (strcasecmp(key, "allow") == 0 || strcasecmp(key, "disallow") == 0) {
            st->in_agents = 0;
            int applies = st->have_ours ? st->group_ours : st->group_star;
            if (pass == 1 && applies && *value) add_rule(r, value, tolower((unsigned char)key[0]) == 'a');
        } else if (strcasecmp(key, "crawl-delay") == 0) {
            st->in_agents = 0;
            int applies = st->have_ours ? st->group_ours : st->group_star;
            if (pass == 1 && applies) set_crawl_delay(r, value);
        } else if (strcasecmp(key, "sitemap") == 0) {
            if (pass == 1 && *value && r->n_sitemaps < 100) {
                r->sitemaps = mem_realloc(r->sitemaps, sizeof(char *) * (size_t)(r->n_sitemaps + 1));
                r->sitemaps[r->n_sitemaps++] = mem_strdup(value);
            }
        } else {
            st->in_agents = 0;
        }
    }
}

robots *robots_parse(const char *txt, size_t len, const char *product_token) {
    robots *r = robots_allow_all();
    if (len > ROBOTS_MAX_BYTES) len = ROBOTS_MAX_BYTES;
    parse_state st = {0};
    parse_pass(r, txt, len, product_token, 0, &st);
    parse_pass(r, txt, len, product_token, 1, &st);
    return r;
}

/* Length of pattern if it matches path (with * and $), else -1. */
static int match_len(const char *pat, const char *path) {
    const char *p = pat, *s = path;
    const char *star_p = NULL, *star_s = NULL;
    for (;;) {
        if (*p == '$' && p[1] == '\0') {
            if (*s == '\0') return (int)strlen(pat);
        } else if (*p == '\0') {
            return (int)strlen(pat); /* prefix match */
        } else if (*p == '*') {
            star_p = ++p;
            star_s = s;
            continue;
        } else if (*s && *p == *s) {
            p++, s++;
            continue;
        }
        if (!star_p || !*star_s) return -1;
        p = star_p;
        s = ++star_s;
    }
}

int robots_allowed(const robots *r, const char *path_query) {
    if (strcmp(path_query, "/robots.txt") == 0) return 1;
    if (r->disallow_all) return 0;
    int best = -1, allow = 1;
    for (int i = 0; i < r->n_rules; i++) {
        int n = match_len(r->rules[i].pattern, path_query);
        if (n > best || (n == best && n >= 0 && r->rules[i].allow)) {
            best = n;
            allow = r->rules[i].allow;
        }
    }
    return best < 0 ? 1 : allow;
}

long robots_crawl_delay_ms(const robots *r) {
    return r->crawl_delay_ms;
}

int robots_sitemap_count(const robots *r) {
    return r->n_sitemaps;
}

const char *robots_sitemap(const robots *r, int i) {
    return i >= 0 && i < r->n_sitemaps ? r->sitemaps[i] : NULL;
}

void robots_free(robots *r) {
    if (!r) return;
    for (int i = 0; i < r->n_rules; i++) mem_free(r->rules[i].pattern);
    mem_free(r->rules);
    for (int i = 0; i < r->n_sitemaps; i++) mem_free(r->sitemaps[i]);
    mem_free(r->sitemaps);
    mem_free(r);
}
