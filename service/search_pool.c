/* search_pool.c - parallel shard search on a fixed thread pool */
#include "search_pool.h"

#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "mem.h"

/* One request's fan-out; lives on the requesting thread's stack. */
typedef struct fanout {
    void (*run)(void *arg, int shard);
    void *arg;
    int remaining;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} fanout;

typedef struct task {
    fanout *f;
    int shard;
    struct task *next;
} task;

struct search_pool {
    pthread_t *threads;
    int n;
    task *head, *tail;
    int stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void run_one(fanout *f, int s) {
    f->run(f->arg, s);
    pthread_mutex_lock(&f->mu);
    if (--f->remaining == 0) pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static void *worker(void *arg) {
    search_pool *p = arg;
    omp_set_num_threads(1); /* parallelism comes from the pool, not from OpenMP */
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
        task *t = p->head;
        if (t) {
            p->head = t->next;
            if (!p->head) p->tail = NULL;
        }
        pthread_mutex_unlock(&p->mu);
        if (!t) return NULL;
        run_one(t->f, t->shard);
        mem_free(t);
    }
}

search_pool *search_pool_new(int threads) {
    search_pool *p = mem_calloc(1, sizeof(*p));
    p->n = threads < 0 ? 0 : threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = mem_calloc((size_t)(p->n ? p->n : 1), sizeof(pthread_t));
    for (int i = 0; i < p->n; i++) RAGD_CHECK(pthread_create(&p->threads[i], NULL, worker, p) == 0);
    return p;
}

static void submit(search_pool *p, fanout *f, int shard) {
    task *t = mem_alloc(sizeof(*t));
    t->f = f;
    t->shard = shard;
    t->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->tail) p->tail->next = t;
    else p->head = t;
    p->tail = t;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Shards 1..n-1 to the pool, shard 0 on the caller; back when all ran. */
static void run_all(void *ctx, int n, void (*run)(void *arg, int shard), void *arg) {
    search_pool *p = ctx;
    if (n <= 0) return;
    fanout f = {.run = run, .arg = arg, .remaining = n};
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    for (int s = 1; s < n; s++) {
        if (p->n > 0) submit(p, &f, s);
        else run_one(&f, s);
    }
    run_one(&f, 0); /* the caller works too */
    pthread_mutex_lock(&f.mu);
    while (f.remaining > 0) pthread_cond_wait(&f.cv, &f.mu);
    pthread_mutex_unlock(&f.mu);
    pthread_mutex_destroy(&f.mu);
    pthread_cond_destroy(&f.cv);
}

shard_runner search_pool_runner(search_pool *p) {
    return (shard_runner){.run_all = run_all, .ctx = p};
}

void search_pool_free(search_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    mem_free(p->threads);
    mem_free(p);
}
