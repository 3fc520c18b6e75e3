/* search_pool.c - parallel shard search on a fixed thread pool */
#include "search_pool.h"

#include <omp.h>
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "mem.h"

/* One request's fan-out; lives on the requesting thread's stack. */
typedef struct fanout {
    const index_version *v;
    const float *q;
    int k;
    float *scores;
    int64_t *ids;
    int remaining, failed;
    char err[RAGD_ERR_LEN];
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

static void run_shard(fanout *f, int s) {
    char err[RAGD_ERR_LEN];
    size_t off = (size_t)s * (size_t)f->k;
    int rc = vindex_search(f->v->shards[s].index, 1, f->q, f->k, f->scores + off, f->ids + off, err);
    pthread_mutex_lock(&f->mu);
    if (rc != 0 && !f->failed) {
        f->failed = 1;
        snprintf(f->err, sizeof(f->err), "shard %d: %.200s", s, err);
    }
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
        run_shard(t->f, t->shard);
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

int search_pool_search(search_pool *p, const index_version *v, const float *q, int k, index_hit *hits, char *err) {
    int ns = v->m.n_shards;
    fanout f = {.v = v, .q = q, .k = k, .remaining = ns};
    f.scores = mem_alloc(sizeof(float) * (size_t)ns * (size_t)k);
    f.ids = mem_alloc(sizeof(int64_t) * (size_t)ns * (size_t)k);
    pthread_mutex_init(&f.mu, NULL);
    pthread_cond_init(&f.cv, NULL);
    for (int s = 1; s < ns; s++) {
        if (p->n > 0) submit(p, &f, s);
        else run_shard(&f, s);
    }
    run_shard(&f, 0); /* the caller works too */
    pthread_mutex_lock(&f.mu);
    while (f.remaining > 0) pthread_cond_wait(&f.cv, &f.mu);
    pthread_mutex_unlock(&f.mu);
    int n = -1;
    if (f.failed) {
        err_set(err, "%s", f.err);
    } else {
        const float **sp = mem_alloc(sizeof(float *) * (size_t)ns);
        const int64_t **ip = mem_alloc(sizeof(int64_t *) * (size_t)ns);
        for (int s = 0; s < ns; s++) {
            sp[s] = f.scores + (size_t)s * k;
            ip[s] = f.ids + (size_t)s * k;
        }
        n = index_merge_topk(ns, sp, ip, k, v->m.metric, k, hits);
        mem_free(sp);
        mem_free(ip);
    }
    pthread_mutex_destroy(&f.mu);
    pthread_cond_destroy(&f.cv);
    mem_free(f.scores);
    mem_free(f.ids);
    return n;
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
