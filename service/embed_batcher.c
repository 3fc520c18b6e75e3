/* embed_batcher.c - concurrent requests' texts embedded together, in one forward pass */
#include "embed_batcher.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"

typedef struct job {
    embedder *e;
    const char *const *texts;
    int n;
    float *out;
    int taken, done, rc;
    char *err;
    struct job *next;
} job;

struct embed_batcher {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *head, *tail; /* waiting, not yet taken by a pass */
    int active, max_active, max_texts;
    int idle_threads;  /* threads a lone pass may use (embed_batcher_set_idle_threads) */
    int (*busy)(void); /* other work in flight? */
    embed_batcher_stats st;
};

embed_batcher *embed_batcher_new(int max_active, int max_texts) {
    embed_batcher *b = mem_calloc(1, sizeof(*b));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->max_active = max_active > 0 ? max_active : 1;
    b->max_texts = max_texts > 0 ? max_texts : 1;
    b->idle_threads = 1;
    return b;
}

void embed_batcher_set_idle_threads(embed_batcher *b, int threads, int (*busy)(void)) {
    b->idle_threads = threads > 1 ? threads : 1;
    b->busy = busy;
}

static void unlink_job(embed_batcher *b, job *j) {
    job **p = &b->head, *prev = NULL;
    while (*p && *p != j) prev = *p, p = &(*p)->next;
    if (!*p) return;
    *p = j->next;
    if (b->tail == j) b->tail = prev;
    j->next = NULL;
}

/* Called with the lock held by a job that may start a pass: take it and
 * the waiting jobs of the same embedder, oldest first, up to max_texts. */
static int gather(embed_batcher *b, job *self, job **batch, int cap) {
    int n = 0, texts = self->n;
    unlink_job(b, self);
    self->taken = 1;
    batch[n++] = self;
    for (job *j = b->head, *next; j && n < cap; j = next) {
        next = j->next;
        if (j->e != self->e || texts + j->n > b->max_texts) continue;
        unlink_job(b, j);
        j->taken = 1;
        batch[n++] = j;
        texts += j->n;
    }
    return n;
}

static void run_pass(embed_batcher *b, job **batch, int n, int threads) {
    int total = 0;
    for (int i = 0; i < n; i++) total += batch[i]->n;
    embedder *e = batch[0]->e;
    int rc;
    char err[RAGD_ERR_LEN] = "";
    if (threads > 1) embedder_threads_set(threads);
    if (n == 1) {
        rc = embedder_embed(e, batch[0]->texts, batch[0]->n, batch[0]->out, err);
    } else {
        const char **texts = mem_alloc(sizeof(char *) * (size_t)total);
        float *out = mem_alloc(sizeof(float) * (size_t)total * (size_t)embedder_dim(e));
        for (int i = 0, k = 0; i < n; i++)
            for (int t = 0; t < batch[i]->n; t++) texts[k++] = batch[i]->texts[t];
        rc = embedder_embed(e, texts, total, out, err);
        if (rc == 0)
            for (int i = 0, k = 0; i < n; k += batch[i]->n, i++)
                memcpy(batch[i]->out, out + (size_t)k * embedder_dim(e), sizeof(float) * (size_t)batch[i]->n * embedder_dim(e));
        mem_free(texts);
        mem_free(out);
    }
    if (threads > 1) embedder_threads_set(1);
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < n; i++) {
        batch[i]->rc = rc;
        if (rc != 0) snprintf(batch[i]->err, RAGD_ERR_LEN, "%s", err);
        batch[i]->done = 1;
    }
    b->active--;
    b->st.passes++;
    b->st.texts += total;
    b->st.requests += n;
    if (threads > 1) b->st.split_passes++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

int embed_batcher_embed(embed_batcher *b, embedder *e, const char *const *texts, int n, float *out, char *err) {
    if (!b) return embedder_embed(e, texts, n, out, err);
    if (n <= 0) return RAGD_OK;
    job self = {.e = e, .texts = texts, .n = n, .out = out, .err = err};
    job *batch[256];
    pthread_mutex_lock(&b->mu);
    if (b->tail) b->tail->next = &self;
    else b->head = &self;
    b->tail = &self;
    while (!self.done) {
        if (!self.taken && b->active < b->max_active) {
            int k = gather(b, &self, batch, (int)(sizeof(batch) / sizeof(batch[0])));
            b->active++;
            /* Alone on an idle server: the pass may use the idle cores too. */
            int threads = b->active == 1 && !b->head && b->idle_threads > 1 && !(b->busy && b->busy())
                              ? b->idle_threads : 1;
            pthread_mutex_unlock(&b->mu);
            run_pass(b, batch, k, threads);
            pthread_mutex_lock(&b->mu);
            continue;
        }
        pthread_cond_wait(&b->cv, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return self.rc;
}

void embed_batcher_stats_get(embed_batcher *b, embed_batcher_stats *out) {
    pthread_mutex_lock(&b->mu);
    *out = b->st;
    pthread_mutex_unlock(&b->mu);
}

void embed_batcher_free(embed_batcher *b) {
    if (!b) return;
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->cv);
    mem_free(b);
}
