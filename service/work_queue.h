/* work_queue.h - a fixed pool of threads running queued jobs, with a bounded queue
 *
 * The HTTP threads never run slow work (embedding a query, calling an
 * upstream, waiting for a reload): they park the connection and queue a
 * job here, so /health and /ready are answered at once however slow the
 * work is (security review finding 3). The queue is bounded: a push that
 * finds every worker busy (or about to be) and max_queued jobs waiting
 * fails at once and the caller answers 503 with
 * Retry-After instead of letting latency grow without limit.
 *
 *     work_queue *q = work_queue_new(4, 512);
 *     if (work_queue_push(q, run, arg) != 0) ... overloaded ...
 *     work_queue_free(q);      // runs what is queued, then joins
 */
#ifndef RAGD_WORK_QUEUE_H
#define RAGD_WORK_QUEUE_H

typedef struct work_queue work_queue;

work_queue *work_queue_new(int threads, int max_queued);

/* Queue fn(arg); 0, or -1 if threads + max_queued jobs are already in (or
 * the queue is stopping): fn not run. */
int work_queue_push(work_queue *q, void (*fn)(void *), void *arg);

/* Jobs waiting (not yet running) and jobs running. */
void work_queue_depth(work_queue *q, int *queued, int *running);

/* Refuse new jobs, run every queued one, join the threads, free. NULL is accepted. */
void work_queue_free(work_queue *q);

#endif
