/* embed_pool.c - embed batches on worker threads */
#include "embed_pool.h"
#include "clock.h"

#include <pthread.h>
#include <time.h>

#include "check.h"
#include "mem.h"

struct embed_pool {
    embedder *e;
    pthread_t *threads;
    int n_threads, max_pending, outstanding, stopping;
    embed_job *todo_head, *todo_tail, *done;
    pthread_mutex_t mu;
    pthread_cond_t todo_cv, done_cv;
};

static void *worker(void *arg) {
    embed_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->todo_head && !p->stopping) pthread_cond_wait(&p->todo_cv, &p->mu);
        if (!p->todo_head) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        embed_job *j = p->todo_head;
        p->todo_head = j->next;
        if (!p->todo_head) p->todo_tail = NULL;
        pthread_mutex_unlock(&p->mu);

        j->out = mem_alloc(sizeof(float) * (size_t)j->n * (size_t)embedder_dim(p->e));
        double t0 = clock_ms();
        j->rc = embedder_embed(p->e, (const char *const *)j->texts, j->n, j->out, j->err);
        j->ms = clock_ms() - t0;

        pthread_mutex_lock(&p->mu);
        j->next = p->done;
        p->done = j;
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
}

embed_pool *embed_pool_new(embedder *e, int threads, int max_pending) {
    embed_pool *p = mem_calloc(1, sizeof(*p));
    p->e = e;
    p->n_threads = threads < 1 ? 1 : threads;
    p->max_pending = max_pending < 1 ? 1 : max_pending;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->todo_cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
    p->threads = mem_calloc((size_t)p->n_threads, sizeof(pthread_t));
    for (int i = 0; i < p->n_threads; i++) RAGD_CHECK(pthread_create(&p->threads[i], NULL, worker, p) == 0);
    return p;
}

void embed_pool_submit(embed_pool *p, embed_job *job) {
    pthread_mutex_lock(&p->mu);
    /* Backpressure: wait until a finished job is collected. */
    while (p->outstanding >= p->max_pending && !p->done) pthread_cond_wait(&p->done_cv, &p->mu);
    job->next = NULL;
    if (p->todo_tail) p->todo_tail->next = job;
    else p->todo_head = job;
    p->todo_tail = job;
    p->outstanding++;
    pthread_cond_signal(&p->todo_cv);
    pthread_mutex_unlock(&p->mu);
}

static embed_job *take_done(embed_pool *p) {
    embed_job *j = p->done;
    if (j) {
        p->done = j->next;
        j->next = NULL;
        p->outstanding--;
    }
    return j;
}

embed_job *embed_pool_poll(embed_pool *p) {
    pthread_mutex_lock(&p->mu);
    embed_job *j = take_done(p);
    pthread_mutex_unlock(&p->mu);
    return j;
}

embed_job *embed_pool_wait(embed_pool *p) {
    pthread_mutex_lock(&p->mu);
    while (!p->done && p->outstanding > 0) pthread_cond_wait(&p->done_cv, &p->mu);
    embed_job *j = take_done(p);
    pthread_mutex_unlock(&p->mu);
    return j;
}

void embed_pool_free(embed_pool *p) {
    if (!p) return;
    embed_job *j;
    while ((j = embed_pool_wait(p)) != NULL) embed_job_free(j);
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->todo_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->todo_cv);
    pthread_cond_destroy(&p->done_cv);
    mem_free(p->threads);
    mem_free(p);
}

embed_job *embed_job_new(int cap) {
    embed_job *j = mem_calloc(1, sizeof(*j));
    j->cap = cap;
    j->texts = mem_calloc((size_t)cap, sizeof(char *));
    j->slots = mem_calloc((size_t)cap, sizeof(int));
    j->keys = mem_calloc((size_t)cap, sizeof(char *));
    return j;
}

void embed_job_add(embed_job *j, const char *text, int slot, const char *key) {
    RAGD_CHECK(j->n < j->cap);
    j->texts[j->n] = mem_strdup(text);
    j->slots[j->n] = slot;
    j->keys[j->n] = key ? mem_strdup(key) : NULL;
    j->n++;
}

void embed_job_free(embed_job *j) {
    if (!j) return;
    for (int i = 0; i < j->n; i++) mem_free(j->texts[i]), mem_free(j->keys[i]);
    mem_free(j->texts);
    mem_free(j->keys);
    mem_free(j->slots);
    mem_free(j->out);
    mem_free(j);
}
