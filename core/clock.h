/* clock.h - one monotonic clock, and the deadline of the work this thread is doing
 *
 * clock_ms() is CLOCK_MONOTONIC in milliseconds: for latencies, timeouts
 * and back-off (never the wall clock, which jumps). A deadline is set per
 * thread by whoever starts a piece of work with a time limit (a request
 * worker, say) and read by code deep below it that waits on something
 * slow (an upstream HTTP call), which then bounds its timeouts and
 * retries by what is left instead of by its own configuration alone.
 *
 *     deadline_set(clock_ms() + 15000);
 *     ... long timeout = deadline_left_ms() ...   // +INFINITY when none is set
 *     deadline_set(0);                            // clear
 */
#ifndef RAGD_CLOCK_H
#define RAGD_CLOCK_H

double clock_ms(void);

/* Set (at_ms > 0, on clock_ms()'s scale) or clear (0) this thread's deadline. */
void deadline_set(double at_ms);
/* This thread's deadline (0 if none). */
double deadline_get(void);
/* Milliseconds left before this thread's deadline (never below 0), or
 * +INFINITY without one. */
double deadline_left_ms(void);

/* Code that cut its work short because of the deadline (a timeout capped
 * by it expired) says so; deadline_expired() is then 1, as it is once no
 * time is left. deadline_set() clears it. */
void deadline_note_hit(void);
int deadline_expired(void);

#endif
