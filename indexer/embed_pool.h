/* embed_pool.h - embed batches of chunk texts on worker threads while loading goes on
 *
 * The indexer's pipeline: the loading thread submits batches and keeps
 * crawling; workers run the embedder; the loading thread collects finished
 * batches whenever it ticks. At most max_pending batches are outstanding:
 * submit blocks beyond that, so a slow embedder slows the crawl instead of
 * filling memory.
 *
 *     embed_pool *p = embed_pool_new(emb, 2, 8);
 *     embed_pool_submit(p, job);                 // job->texts, job->n
 *     while ((job = embed_pool_poll(p))) use(job->out), embed_job_free(job);
 *     while ((job = embed_pool_wait(p))) ...;   // drain at the end
 *     embed_pool_free(p);
 */
#ifndef RAGD_EMBED_POOL_H
#define RAGD_EMBED_POOL_H

#include "embedder.h"
#include "err.h"

typedef struct embed_job {
    int n, cap;
    char **texts;  /* owned */
    int *slots;    /* caller's bookkeeping: where each vector goes */
    char **keys;   /* caller's bookkeeping: a cache key per text (owned, may be NULL) */
    float *out;    /* n x dim, filled by a worker */
    int rc;        /* 0 or -1 */
    double ms;     /* time the embed call took */
    char err[RAGD_ERR_LEN];
    struct embed_job *next;
} embed_job;

typedef struct embed_pool embed_pool;

embed_pool *embed_pool_new(embedder *e, int threads, int max_pending);

/* Hand a job to the workers (blocks while max_pending are outstanding). */
void embed_pool_submit(embed_pool *p, embed_job *job);

/* A finished job, or NULL if none is ready (never blocks). */
embed_job *embed_pool_poll(embed_pool *p);

/* A finished job, waiting for one; NULL when nothing is outstanding. */
embed_job *embed_pool_wait(embed_pool *p);

/* Stop the workers (after draining) and free. NULL is accepted. */
void embed_pool_free(embed_pool *p);

embed_job *embed_job_new(int cap);
void embed_job_add(embed_job *j, const char *text, int slot, const char *key);
void embed_job_free(embed_job *j);

#endif
