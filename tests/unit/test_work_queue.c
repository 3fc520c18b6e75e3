/* test_work_queue.c - request workers: every queued job runs once, a full queue refuses at once, capacity is workers + queue, free drains */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "test.h"
#include "work_queue.h"

static atomic_int ran;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, blocked;

static void count(void *arg) {
    atomic_fetch_add(&ran, *(int *)arg);
}

/* Holds its worker until the gate opens. */
static void hold(void *arg) {
    (void)arg;
    pthread_mutex_lock(&gate_mu);
    blocked++;
    pthread_cond_broadcast(&gate_cv);
    while (!gate_open) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    atomic_fetch_add(&ran, 1);
}

TEST(test_every_job_runs_once) {
    atomic_store(&ran, 0);
    work_queue *q = work_queue_new(3, 1000);
    static int one = 1;
    for (int i = 0; i < 1000; i++) CHECK(work_queue_push(q, count, &one) == 0);
    work_queue_free(q); /* runs what is queued before it returns */
    CHECK_EQ_INT(atomic_load(&ran), 1000);
}

TEST(test_full_queue_refuses) {
    atomic_store(&ran, 0);
    gate_open = 0, blocked = 0;
    work_queue *q = work_queue_new(2, 3);
    CHECK(work_queue_push(q, hold, NULL) == 0 && work_queue_push(q, hold, NULL) == 0);
    pthread_mutex_lock(&gate_mu);
    while (blocked < 2) pthread_cond_wait(&gate_cv, &gate_mu); /* both workers are busy */
    pthread_mutex_unlock(&gate_mu);
    for (int i = 0; i < 3; i++) CHECK(work_queue_push(q, hold, NULL) == 0);
    int queued, running;
    work_queue_depth(q, &queued, &running);
    CHECK(queued == 3 && running == 2);
    CHECK(work_queue_push(q, hold, NULL) == -1); /* full: refused, never run */
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    work_queue_free(q);
    CHECK_EQ_INT(atomic_load(&ran), 5);
}

/* Jobs pushed faster than the workers wake up are admitted up to every
 * worker plus the queue (the scheduler may run the workers late: a loaded
 * machine must not shrink the service's capacity), and never more. */
TEST(test_capacity_is_workers_plus_queue) {
    atomic_store(&ran, 0);
    gate_open = 0, blocked = 0;
    work_queue *q = work_queue_new(2, 3);
    for (int i = 0; i < 5; i++) CHECK(work_queue_push(q, hold, NULL) == 0); /* no waiting for the workers */
    CHECK(work_queue_push(q, hold, NULL) == -1);
    pthread_mutex_lock(&gate_mu);
    while (blocked < 2) pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    int queued, running;
    work_queue_depth(q, &queued, &running);
    CHECK(queued == 3 && running == 2);
    CHECK(work_queue_push(q, hold, NULL) == -1); /* still full once they run */
    pthread_mutex_lock(&gate_mu);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    work_queue_free(q);
    CHECK_EQ_INT(atomic_load(&ran), 5);
}

int main(void) {
    RUN(test_every_job_runs_once);
    RUN(test_full_queue_refuses);
    RUN(test_capacity_is_workers_plus_queue);
    return test_summary("work_queue");
}
