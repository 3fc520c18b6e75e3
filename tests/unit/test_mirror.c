/* test_mirror.c - the semantic mirror: bounded, and a tenant flooding it evicts only itself */
#include <math.h>
#include <stdio.h>

#include "mem.h"
#include "semantic_mirror.h"
#include "strmap.h"
#include "test.h"

#define DIM 8

static void unit_vec(int i, float *v) {
    double n = 0;
    for (int d = 0; d < DIM; d++) {
        v[d] = (float)sin(i * 7.1 + d * 1.3 + 0.5);
        n += (double)v[d] * v[d];
    }
    for (int d = 0; d < DIM; d++) v[d] = (float)(v[d] / sqrt(n));
}

static int add(mirror *m, const char *tenant, const char *group, int i) {
    char key[96];
    float v[DIM];
    snprintf(key, sizeof(key), "ragd:v1:%s:sem:%d", tenant, i);
    unit_vec(i, v);
    return mirror_add(m, key, group, v, DIM, INT64_MAX, "blob", 4);
}

static int found(mirror *m, const char *group, int i) {
    float v[DIM], score;
    void *blob = NULL;
    size_t len;
    unit_vec(i, v);
    int hit = mirror_lookup(m, group, v, DIM, 0.999f, 0, &score, &blob, &len);
    mem_free(blob);
    return hit;
}

/* Security review finding 12: the least recently fed group used to go,
 * whoever fed the others, so one tenant could push every other out. */
TEST(test_flooding_tenant_evicts_only_itself) {
    mirror *m = mirror_new(64);
    for (int i = 0; i < 8; i++) CHECK(add(m, "quiet", "q-group", i));
    for (int i = 100; i < 2100; i++) {
        char group[32];
        snprintf(group, sizeof(group), "flood-%d", i % 37);
        CHECK(add(m, "loud", group, i));
        CHECK(mirror_size(m) <= 64);
    }
    for (int i = 0; i < 8; i++) CHECK(found(m, "q-group", i));
    char last[32];
    snprintf(last, sizeof(last), "flood-%d", 2099 % 37);
    CHECK(found(m, last, 2099)); /* the newest entry stays */
    mirror_free(m);
}

TEST(test_one_tenant_keeps_the_whole_bound) {
    mirror *m = mirror_new(64);
    for (int i = 0; i < 64; i++) CHECK(add(m, "only", i < 32 ? "a" : "b", i));
    CHECK_EQ_INT(mirror_size(m), 64);
    for (int i = 0; i < 64; i++) CHECK(found(m, i < 32 ? "a" : "b", i));
    CHECK(add(m, "only", "c", 64));
    CHECK(mirror_size(m) <= 64 && found(m, "c", 64) && found(m, "b", 63));
    mirror_clear(m);
    CHECK_EQ_INT(mirror_size(m), 0);
    CHECK(add(m, "only", "a", 1) && found(m, "a", 1));
    mirror_free(m);
}

/* strmap_del against a reference, through growth and wrap-around runs. */
TEST(test_strmap_delete) {
    strmap *m = strmap_new();
    static char present[5000];
    unsigned x = 12345;
    for (int step = 0; step < 40000; step++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % 5000);
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        if ((x >> 4) & 1) {
            CHECK_EQ_INT(strmap_put(m, key, (void *)(long)(k + 1)), !present[k]);
            present[k] = 1;
        } else {
            void *v = strmap_del(m, key);
            CHECK(present[k] ? v == (void *)(long)(k + 1) : v == NULL);
            present[k] = 0;
        }
    }
    size_t n = 0;
    for (int k = 0; k < 5000; k++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", k);
        CHECK_EQ_INT(strmap_has(m, key), present[k]);
        if (present[k]) CHECK(strmap_get(m, key) == (void *)(long)(k + 1));
        n += present[k];
    }
    CHECK_EQ_INT(strmap_len(m), n);
    size_t it = 0, seen = 0;
    while (strmap_next(m, &it, NULL, NULL)) seen++;
    CHECK_EQ_INT(seen, n);
    strmap_free(m, NULL);
}

int main(void) {
    RUN(test_flooding_tenant_evicts_only_itself);
    RUN(test_one_tenant_keeps_the_whole_bound);
    RUN(test_strmap_delete);
    return test_summary("mirror");
}
