/* injection.c - prompt-injection markers in retrieved text (override phrases, role tags, hidden characters) */
#include "injection.h"

#include <ctype.h>
#include <string.h>

#include <strings.h>

/* Chat-template tokens of common model families, matched without case. */
static const char *const role_tags[] = {"<|im_start|>", "<|im_end|>", "<|system|>", "<|user|>", "<|assistant|>",
                                        "<|start_header_id|>", "<|eot_id|>", "[inst]", "[/inst]", "<<sys>>",
                                        "<|endoftext|>", "<start_of_turn>"};

static const char *const verbs[] = {"ignore", "disregard", "forget"};
static const char *const whens[] = {"previous", "prior", "above", "earlier", "preceding", "all", "your", "system",
                                    "original"};
static const char *const objects[] = {"instruction", "instructions", "prompt", "prompts", "directions", "rules",
                                      "guidelines"};

static int in_list(const char *w, size_t n, const char *const *list, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && !strncmp(list[i], w, n)) return 1;
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof(a[0]))
#define WINDOW 6 /* words between the verb and its object */

/* ASCII words, lower-cased, at most 64 bytes each; a verb followed within
 * WINDOW words by an object, with a "when" word between them. */
static int override_phrase(const char *t, size_t len) {
    int verb_at = -1, when_seen = 0, nw = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && !isalpha((unsigned char)t[i])) i++;
        size_t s = i, n = 0;
        while (i < len && isalpha((unsigned char)t[i])) i++;
        if (i == s) break;
        char w[65];
        for (size_t j = s; j < i && n < 64; j++) w[n++] = (char)tolower((unsigned char)t[j]);
        w[n] = '\0';
        nw++;
        if (in_list(w, n, verbs, COUNT(verbs))) verb_at = nw, when_seen = 0;
        else if (verb_at > 0 && nw - verb_at <= WINDOW) {
            if (in_list(w, n, whens, COUNT(whens))) when_seen = 1;
            else if (when_seen && in_list(w, n, objects, COUNT(objects))) return 1;
        }
    }
    return 0;
}

/* Every tag opens with '<' or '[': the text is scanned once for those
 * bytes and only there compared with the tags (comparing every tag at
 * every byte was 3% of a search's CPU at 16 connections: 10 hits of a few
 * hundred bytes, 12 tags). */
static int has_role_tag(const char *t, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (t[i] != '<' && t[i] != '[') continue;
        for (size_t k = 0; k < COUNT(role_tags); k++) {
            size_t m = strlen(role_tags[k]);
            if (role_tags[k][0] == t[i] && i + m <= len && strncasecmp(t + i, role_tags[k], m) == 0) return 1;
        }
    }
    return 0;
}

/* Zero-width (U+200B..U+200F, U+2060..U+2064, U+FEFF), bidi overrides
 * (U+202A..U+202E, U+2066..U+2069) and tag characters (U+E0000..U+E007F). */
static int has_invisible(const char *t, size_t len) {
    for (size_t i = 0; i + 2 < len; i++) {
        unsigned char a = (unsigned char)t[i], b = (unsigned char)t[i + 1], c = (unsigned char)t[i + 2];
        if (a == 0xe2 && b == 0x80 && ((c >= 0x8b && c <= 0x8f) || (c >= 0xaa && c <= 0xae))) return 1;
        if (a == 0xe2 && b == 0x81 && ((c >= 0xa0 && c <= 0xa4) || (c >= 0xa6 && c <= 0xa9))) return 1;
        if (a == 0xef && b == 0xbb && c == 0xbf) return 1;
        if (a == 0xf3 && b == 0xa0 && (c == 0x80 || c == 0x81) && i + 3 < len) return 1;
    }
    return 0;
}

unsigned injection_scan(const char *text, size_t len) {
    if (!text) return 0;
    unsigned f = 0;
    if (override_phrase(text, len)) f |= INJECTION_OVERRIDE;
    if (has_role_tag(text, len)) f |= INJECTION_ROLE_TAG;
    if (has_invisible(text, len)) f |= INJECTION_INVISIBLE;
    return f;
}

const char *injection_flag_name(unsigned flag) {
    switch (flag) {
    case INJECTION_OVERRIDE: return "instruction_override";
    case INJECTION_ROLE_TAG: return "role_tag";
    case INJECTION_INVISIBLE: return "invisible_text";
    default: return "?";
    }
}
