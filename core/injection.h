/* injection.h - prompt-injection markers in retrieved text: what makes a chunk unsafe to put in a prompt
 *
 * Retrieved text is data, not instructions, yet an LLM reads it all the
 * same. A chunk that talks to the model ("ignore all previous
 * instructions", chat-template role tags such as <|im_start|> or [INST])
 * or hides text from human readers (zero-width and bidi-override
 * characters, Unicode tag characters) is flagged: search results carry
 * the flags and answer prompts leave such chunks out by default. A
 * heuristic, meant to catch the common attacks cheaply and say so, not
 * to prove text harmless. Pure function of the text.
 *
 *     unsigned f = injection_scan(text, len);
 *     if (f) ... injection_flag_name(INJECTION_OVERRIDE) == "instruction_override" ...
 */
#ifndef RAGD_INJECTION_H
#define RAGD_INJECTION_H

#include <stddef.h>

enum injection_flag {
    INJECTION_OVERRIDE = 1u << 0,  /* "ignore/disregard/forget" + "previous/above/all/your..." + "instructions/prompt/rules..." */
    INJECTION_ROLE_TAG = 1u << 1,  /* chat-template tokens: <|im_start|>, [INST], <<SYS>>, <|system|> ... */
    INJECTION_INVISIBLE = 1u << 2, /* zero-width, bidi-override or Unicode tag characters */
};
#define INJECTION_FLAG_COUNT 3

/* The flags of text[0..len) (0: none found). */
unsigned injection_scan(const char *text, size_t len);

/* "instruction_override", "role_tag", "invisible_text" for one flag bit. */
const char *injection_flag_name(unsigned flag);

#endif
