/* rate_limit.h - token-bucket rate limits per API key (or per client address)
 *
 * Each bucket holds up to `burst` tokens and refills at `rate` per second;
 * a request takes one token or is refused with the time until one is
 * available (for Retry-After). The same buckets hold token budgets (an
 * API key's LLM tokens per minute), taken n at a time. Buckets are created on first use; the table
 * is bounded and the idlest buckets are dropped when it is full.
 *
 *     rate_limit *rl = rate_limit_new(10, 20);
 *     double wait;
 *     if (!rate_limit_take(rl, key_id, 0, 0, &wait)) -> 429, Retry-After: ceil(wait)
 */
#ifndef RAGD_RATE_LIMIT_H
#define RAGD_RATE_LIMIT_H

#define RATE_LIMIT_MAX_BUCKETS 100000

typedef struct rate_limit rate_limit;

/* rate <= 0 disables limiting. */
rate_limit *rate_limit_new(double rate, double burst);

/* 1 if allowed; 0 if limited, with *retry_after_s set. rate/burst > 0
 * override the defaults for this bucket. Thread-safe. */
int rate_limit_take(rate_limit *rl, const char *bucket, double rate, double burst, double *retry_after_s);

/* Take n tokens at once (an LLM call's estimated tokens, say) from a
 * bucket of this rate and burst: 1, or 0 with *retry_after_s. n above
 * burst takes a full bucket. rate <= 0: always 1. */
int rate_limit_take_n(rate_limit *rl, const char *bucket, double rate, double burst, double n, double *retry_after_s);

/* Give back n tokens taken too many (the estimate was above the use). */
void rate_limit_give(rate_limit *rl, const char *bucket, double rate, double burst, double n);

void rate_limit_free(rate_limit *rl);

#endif
