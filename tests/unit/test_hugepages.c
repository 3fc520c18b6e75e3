/* test_hugepages.c - a library call's large new mappings advised as huge pages, old and small ones not
 *
 * Whether a mapping was advised is read from the kernel (VmFlags "hg" in
 * /proc/self/smaps), not from the count huge_mark_advise returns: threads
 * of linked libraries (OpenBLAS) may map memory of their own meanwhile,
 * which the service does not mind and a count would. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "hugepages.h"
#include "test.h"

/* THP as the kernel is set: "always", "madvise" or "never" ("" if unknown). */
static void thp_mode(char *buf, size_t n) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    buf[0] = '\0';
    if (!f) return;
    char line[128];
    if (fgets(line, sizeof(line), f)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b && (size_t)(b - a - 1) < n) memcpy(buf, a + 1, (size_t)(b - a - 1)), buf[b - a - 1] = '\0';
    }
    fclose(f);
}

/* 1 if the mapping holding addr carries MADV_HUGEPAGE ("hg"), 0 if not, -1 if unknown. */
static int advised(const void *addr) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0, r = -1;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof(line), f)) {
        uintptr_t s, e;
        if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) in = s <= a && a < e;
        else if (in && !strncmp(line, "VmFlags:", 8)) {
            r = strstr(line, " hg") != NULL;
            break;
        }
    }
    fclose(f);
    return r;
}

TEST(test_new_large_mappings_are_advised) {
    char mode[16];
    thp_mode(mode, sizeof(mode));
    huge_mark *m = huge_mark_take();
    size_t len = (size_t)16 << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 7, len); /* written before the advice, like FAISS's vectors */
    size_t n = huge_mark_advise(m, (size_t)4 << 20);
    printf("    THP %s: %zu MiB advised\n", mode[0] ? mode : "unknown", n >> 20);
    if (mode[0] && strcmp(mode, "never") != 0) {
        CHECK(n >= ((size_t)14 << 20)); /* at least the whole 2 MiB pages inside the new mapping */
        CHECK(advised(p + len / 2) == 1);
    }
    CHECK(p[0] == 7 && p[len - 1] == 7); /* the contents stay */
    munmap(p, len);
}

TEST(test_old_and_small_mappings_are_left_alone) {
    size_t len = (size_t)16 << 20;
    char *old = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(old != MAP_FAILED);
    old[0] = 1;
    huge_mark *m = huge_mark_take();
    /* new, but small: and likely placed next to `old`, which the kernel
     * then merges into one mapping; only the new part counts */
    char *small = mmap(NULL, (size_t)1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(small != MAP_FAILED);
    small[0] = 1;
    huge_mark_advise(m, (size_t)4 << 20);
    CHECK(advised(old + len / 2) == 0);
    CHECK(advised(small) == 0);
    munmap(old, len);
    munmap(small, (size_t)1 << 20);
    CHECK(huge_mark_advise(NULL, 1) == 0);
}

int main(void) {
    RUN(test_new_large_mappings_are_advised);
    RUN(test_old_and_small_mappings_are_left_alone);
    return test_summary("hugepages");
}
