/* fuzz_answer_prompt.c - retrieved text into the grounded prompt, and an LLM's answer read for citations (service/answer_prompt.c)
 *
 * The input is split at NUL bytes into a question, an answer and chunk
 * texts (titles and URLs are slices of them). Checked: every passage is
 * fenced exactly once (no chunk text, title or URL can open or close a
 * fence), passages stay within the budget and in rank order, and
 * citations mark only passages 1..n.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer_prompt.h"
#include "injection.h"
#include "mem.h"

static int bytes(void *ud, const char *t, size_t n) {
    (void)ud, (void)t;
    return (int)(n / 4 + 1);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = mem_alloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *parts[10];
    int np = 0;
    for (char *p = buf; np < 10 && p <= buf + size; p += strlen(p) + 1) parts[np++] = p;
    const char *query = np > 0 ? parts[0] : "", *answer = np > 1 ? parts[1] : "";
    answer_source s[8];
    int n = 0;
    for (int i = 2; i < np; i++, n++) {
        const char *t = parts[i];
        s[n] = (answer_source){.id = n, .text = t, .title = t + strlen(t) / 2, .url = t + strlen(t) / 3,
                               .flags = injection_scan(t, strlen(t))};
    }
    answer_prompt p;
    int budget = size > 0 ? data[0] * 4 : 100;
    answer_prompt_build(query, strlen(query), s, n, budget, size > 1 && (data[1] & 1), bytes, NULL, &p);
    if (p.n < 0 || p.n > n || p.context_tokens > budget) __builtin_trap();
    if (count(p.user, "</passage>") != p.n || count(p.user, "<passage n=") != p.n) __builtin_trap();
    for (int i = 1; i < p.n; i++)
        if (p.src[i] <= p.src[i - 1]) __builtin_trap();
    unsigned char used[8] = {0};
    answer_cites c;
    answer_citations(answer, strlen(answer), p.n, used, &c);
    for (int i = p.n; i < 8; i++)
        if (used[i]) __builtin_trap();
    if (c.n_invented_distinct > ANSWER_MAX_INVENTED || c.invented < c.n_invented_distinct) __builtin_trap();
    answer_prompt_clear(&p);
    mem_free(buf);
    return 0;
}
