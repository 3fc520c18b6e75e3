/* clock.c - one monotonic clock, and the deadline of the work this thread is doing */
#include "clock.h"

#include <math.h>
#include <time.h>

static _Thread_local double thread_deadline;
static _Thread_local int thread_deadline_hit;

double clock_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void deadline_set(double at_ms) {
    thread_deadline = at_ms > 0 ? at_ms : 0;
    thread_deadline_hit = 0;
}

void deadline_note_hit(void) {
    thread_deadline_hit = 1;
}

int deadline_expired(void) {
    return thread_deadline > 0 && (thread_deadline_hit || deadline_left_ms() <= 0);
}

double deadline_get(void) {
    return thread_deadline;
}

double deadline_left_ms(void) {
    if (thread_deadline <= 0) return INFINITY;
    double left = thread_deadline - clock_ms();
    return left > 0 ? left : 0;
}
