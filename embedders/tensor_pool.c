/* tensor_pool.c - helper threads that take parts of one caller's products (tensor_threads_set)
 *
 * One query's encoder pass is 24 products of well under 100 us each, back
 * to back. A helper that sleeps between them pays a futex wake-up per
 * product, more than the product's half is worth (measured with
 * OpenMP, whose libgomp throttles its spinning when there are more threads
 * than cores: one query 15% slower split than alone). So helpers spin
 * between jobs, and sleep only after SPIN_NS without one;
 * tensor_threads_set(n > 1) wakes them at the start of a pass, while the
 * caller tokenizes, so no product waits for a wake-up.
 *
 * One caller splits at a time (a trylock): the service splits a pass
 * only when it runs alone. Helpers live as long as the process.
 */
#include "tensor_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#define SPIN_NS 200000 /* 0.2 ms: the gaps between a pass's products are far shorter */

static struct {
    pthread_mutex_t mu; /* helpers sleep on cv under it */
    pthread_cond_t cv;
    pthread_mutex_t owner; /* the one caller splitting now */
    int helpers;           /* started; changed only by a caller holding owner */
    atomic_uint gen;       /* job number: a helper runs each job once */
    atomic_uint kick;      /* bumped to wake sleeping helpers into spinning */
    atomic_int sleeping;
    atomic_int pending; /* helpers yet to finish the current job */
    void (*fn)(void *, int, int);
    void *arg;
    int parts;
    unsigned start_gen[TENSOR_POOL_MAX]; /* the job number a helper was started at */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .owner = PTHREAD_MUTEX_INITIALIZER};

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *helper(void *arg) {
    int part = (int)(intptr_t)arg;
    unsigned seen = pool.start_gen[part], kicked = atomic_load(&pool.kick);
    for (;;) {
        unsigned g;
        long long t0 = now_ns();
        for (unsigned spins = 0; (g = atomic_load(&pool.gen)) == seen; spins++) {
            relax();
            if ((spins & 1023) == 1023 && now_ns() - t0 > SPIN_NS) {
                pthread_mutex_lock(&pool.mu);
                atomic_fetch_add(&pool.sleeping, 1);
                while (atomic_load(&pool.gen) == seen && atomic_load(&pool.kick) == kicked)
                    pthread_cond_wait(&pool.cv, &pool.mu);
                atomic_fetch_sub(&pool.sleeping, 1);
                kicked = atomic_load(&pool.kick);
                pthread_mutex_unlock(&pool.mu);
                t0 = now_ns();
            }
        }
        seen = g;
        if (part < pool.parts) pool.fn(pool.arg, part, pool.parts);
        atomic_fetch_sub(&pool.pending, 1);
    }
    return NULL;
}

static void wake(void) {
    if (atomic_load(&pool.sleeping) == 0) return;
    pthread_mutex_lock(&pool.mu);
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
}

/* Start helpers up to `want` and return how many there are; the caller holds pool.owner, so no job is
 * published meanwhile and a new helper waits for the next one. */
static int grow(int want) {
    if (want > TENSOR_POOL_MAX - 1) want = TENSOR_POOL_MAX - 1;
    while (pool.helpers < want) {
        pool.start_gen[pool.helpers + 1] = atomic_load(&pool.gen);
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &a, helper, (void *)(intptr_t)(pool.helpers + 1));
        pthread_attr_destroy(&a);
        if (rc != 0) break;
        pool.helpers++;
    }
    return pool.helpers;
}

void tensor_pool_prepare(int threads) {
    if (threads < 2 || pthread_mutex_trylock(&pool.owner) != 0) return;
    grow(threads - 1);
    atomic_fetch_add(&pool.kick, 1);
    wake();
    pthread_mutex_unlock(&pool.owner);
}

int tensor_pool_run(int threads, void (*fn)(void *arg, int part, int parts), void *arg) {
    if (threads < 2 || pthread_mutex_trylock(&pool.owner) != 0) return -1;
    int helpers = grow(threads - 1);
    int parts = helpers + 1 < threads ? helpers + 1 : threads;
    if (parts < 2) {
        pthread_mutex_unlock(&pool.owner);
        return -1;
    }
    pool.fn = fn, pool.arg = arg, pool.parts = parts;
    atomic_store(&pool.pending, helpers); /* every helper answers every job */
    atomic_fetch_add(&pool.gen, 1);       /* seq_cst: publishes the job above */
    wake();
    fn(arg, 0, parts);
    while (atomic_load(&pool.pending) > 0) relax();
    pthread_mutex_unlock(&pool.owner);
    return 0;
}
