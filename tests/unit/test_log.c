/* test_log.c - JSON log lines: escaping, invalid UTF-8, truncation that never splits an escape */
#include <jansson.h>

#include "log.h"
#include "test.h"

/* s escaped into a JSON string must parse back (jansson) to `expect`. */
static int roundtrip(const char *s, size_t n, const char *expect) {
    char buf[256], doc[300];
    log_json_escape(buf, sizeof(buf), s, n);
    snprintf(doc, sizeof(doc), "[\"%s\"]", buf);
    json_t *j = json_loads(doc, 0, NULL);
    int ok = j && strcmp(json_string_value(json_array_get(j, 0)), expect) == 0;
    json_decref(j);
    return ok;
}

TEST(test_escapes_quotes_backslashes_and_controls) {
    CHECK(roundtrip("say \"hi\" \\ now", 14, "say \"hi\" \\ now"));
    CHECK(roundtrip("a\nb\tc\x01" "d\x7f", 8, "a\nb\tc\x01" "d\x7f"));
    char buf[64];
    log_json_escape(buf, sizeof(buf), "\x01", 1);
    CHECK(strcmp(buf, "\\u0001") == 0);
}

TEST(test_keeps_utf8_and_replaces_invalid_bytes) {
    CHECK(roundtrip("caf\xc3\xa9 \xe2\x82\xac", 9, "caf\xc3\xa9 \xe2\x82\xac"));
    /* a stray continuation byte, a truncated sequence, an overlong '/' and a surrogate */
    CHECK(roundtrip("a\x80" "b\xe2\x82", 5, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(roundtrip("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(roundtrip("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
}

TEST(test_truncation_never_splits_an_escape_or_a_character) {
    char buf[6];
    size_t n = log_json_escape(buf, sizeof(buf), "abcd\"e", 6); /* room for 5: abcd + half of \" */
    CHECK_EQ_INT(n, 4);
    CHECK(strcmp(buf, "abcd") == 0);
    n = log_json_escape(buf, sizeof(buf), "abc\xe2\x82\xac", 6);
    CHECK_EQ_INT(n, 3);
    CHECK(strcmp(buf, "abc") == 0);
}

TEST(test_format_names) {
    CHECK_EQ_INT(log_parse_format("json"), LOG_FORMAT_JSON);
    CHECK_EQ_INT(log_parse_format("text"), LOG_FORMAT_TEXT);
    CHECK_EQ_INT(log_parse_format("yaml"), -1);
}

int main(void) {
    RUN(test_escapes_quotes_backslashes_and_controls);
    RUN(test_keeps_utf8_and_replaces_invalid_bytes);
    RUN(test_truncation_never_splits_an_escape_or_a_character);
    RUN(test_format_names);
    return test_summary("log");
}
