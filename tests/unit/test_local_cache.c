/* test_local_cache.c - the in-process L1: copies, expiry, slot replacement, clearing, bounds */
#include <stdio.h>

#include "local_cache.h"
#include "mem.h"
#include "test.h"

TEST(test_put_get_copy_and_expiry) {
    lcache *l = lcache_new(100);
    lcache_put(l, "ragd:v1:default:res:a", "abc", 3, 1000);
    void *b = NULL;
    size_t n = 0;
    CHECK(lcache_get(l, "ragd:v1:default:res:a", 999, &b, &n) == 1 && n == 3 && memcmp(b, "abc", 3) == 0);
    mem_free(b);
    CHECK(lcache_get(l, "ragd:v1:default:res:a", 1000, &b, &n) == 0); /* expired at its time */
    CHECK(lcache_get(l, "ragd:v1:default:res:b", 0, &b, &n) == 0);   /* never stored */
    lcache_put(l, "ragd:v1:default:res:a", "xy", 2, 5000);           /* replaced, new expiry */
    CHECK(lcache_get(l, "ragd:v1:default:res:a", 2000, &b, &n) == 1 && n == 2 && memcmp(b, "xy", 2) == 0);
    mem_free(b);
    lcache_clear(l);
    CHECK(lcache_get(l, "ragd:v1:default:res:a", 0, &b, &n) == 0);
    CHECK(lcache_size(l) == 0);
    lcache_free(l);
    lcache_free(NULL);
}

TEST(test_bounded_by_slots) {
    lcache *l = lcache_new(64);
    char key[64];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        lcache_put(l, key, key, strlen(key), 1 << 30);
    }
    CHECK(lcache_size(l) <= 64 && lcache_size(l) > 0);
    /* every key still present answers with its own value, never another's */
    int found = 0;
    for (int i = 0; i < 10000; i++) {
        void *b;
        size_t n;
        snprintf(key, sizeof(key), "k%d", i);
        if (lcache_get(l, key, 0, &b, &n)) {
            found++;
            CHECK(n == strlen(key) && memcmp(b, key, n) == 0);
            mem_free(b);
        }
    }
    CHECK(found == (int)lcache_size(l));
    lcache_free(l);
}

int main(void) {
    RUN(test_put_get_copy_and_expiry);
    RUN(test_bounded_by_slots);
    return test_summary("local_cache");
}
