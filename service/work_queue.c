/* work_queue.c - a fixed pool of threads running queued jobs, with a bounded queue */
#include "work_queue.h"

#include <pthread.h>

#include "mem.h"

typedef struct job {
    void (*fn)(void *);
    void *arg;
} job;

struct work_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *ring; /* max_queued + n_threads slots */
    int cap, size, head, count, running, stopping; /* cap: max_queued; size: ring slots */
    int n_threads;
    pthread_t *threads;
};

static void *worker(void *arg) {
    work_queue *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->count == 0 && !q->stopping) pthread_cond_wait(&q->cv, &q->mu);
        if (q->count == 0) break; /* stopping, and nothing left to run */
        job j = q->ring[q->head];
        q->head = (q->head + 1) % q->size;
        q->count--;
        q->running++;
        pthread_mutex_unlock(&q->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&q->mu);
        q->running--;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

work_queue *work_queue_new(int threads, int max_queued) {
    work_queue *q = mem_calloc(1, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (threads < 1) threads = 1;
    q->cap = max_queued > 0 ? max_queued : 1;
    q->size = q->cap + threads;
    q->ring = mem_calloc((size_t)q->size, sizeof(job));
    q->threads = mem_calloc((size_t)threads, sizeof(pthread_t));
    for (int i = 0; i < threads; i++)
        if (pthread_create(&q->threads[q->n_threads], NULL, worker, q) == 0) q->n_threads++;
    return q;
}

int work_queue_push(work_queue *q, void (*fn)(void *), void *arg) {
    pthread_mutex_lock(&q->mu);
    /* A job an idle worker has not woken up for yet takes no queue slot:
     * the limit is every worker busy and max_queued waiting, however late
     * the scheduler runs the workers. */
    int ok = !q->stopping && q->n_threads > 0 && q->count + q->running < q->cap + q->n_threads;
    if (ok) {
        q->ring[(q->head + q->count) % q->size] = (job){fn, arg};
        q->count++;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return ok ? 0 : -1;
}

void work_queue_depth(work_queue *q, int *queued, int *running) {
    pthread_mutex_lock(&q->mu);
    *queued = q->count;
    *running = q->running;
    pthread_mutex_unlock(&q->mu);
}

void work_queue_free(work_queue *q) {
    if (!q) return;
    pthread_mutex_lock(&q->mu);
    q->stopping = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->n_threads; i++) pthread_join(q->threads[i], NULL);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    mem_free(q->threads);
    mem_free(q->ring);
    mem_free(q);
}
