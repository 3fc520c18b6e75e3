/* test_rate_limit.c - token buckets: one request at a time, and n tokens at once (LLM token budgets) */
#include "rate_limit.h"
#include "test.h"

TEST(test_requests) {
    rate_limit *rl = rate_limit_new(1, 2);
    double wait = -1;
    CHECK(rate_limit_take(rl, "a", 0, 0, &wait) && rate_limit_take(rl, "a", 0, 0, &wait));
    CHECK(!rate_limit_take(rl, "a", 0, 0, &wait) && wait > 0 && wait <= 1.0);
    CHECK(rate_limit_take(rl, "b", 0, 0, &wait)); /* buckets are per key */
    rate_limit_free(rl);
    rl = rate_limit_new(0, 0);
    for (int i = 0; i < 100; i++) CHECK(rate_limit_take(rl, "a", 0, 0, &wait)); /* rate 0: off */
    rate_limit_free(rl);
}

TEST(test_take_n_and_give_back) {
    rate_limit *rl = rate_limit_new(0, 0);
    double wait = -1, rate = 1000.0 / 60, burst = 1000;
    CHECK(rate_limit_take_n(rl, "tpm:k", rate, burst, 700, &wait));
    CHECK(!rate_limit_take_n(rl, "tpm:k", rate, burst, 700, &wait));
    CHECK(wait > 20 && wait < 30); /* (700 - ~300) tokens at 16.7 per second */
    rate_limit_give(rl, "tpm:k", rate, burst, 500);
    CHECK(rate_limit_take_n(rl, "tpm:k", rate, burst, 700, &wait));
    rate_limit_give(rl, "tpm:k", rate, burst, 1e9); /* never above the burst */
    CHECK(rate_limit_take_n(rl, "tpm:k", rate, burst, 1000, &wait));
    CHECK(!rate_limit_take_n(rl, "tpm:k", rate, burst, 1, &wait));
    /* more than a full bucket waits for a full bucket, not for ever */
    rate_limit_give(rl, "tpm:k", rate, burst, 1000);
    CHECK(rate_limit_take_n(rl, "tpm:k", rate, burst, 5000, &wait));
    CHECK(rate_limit_take_n(rl, "tpm:k", 0, 0, 1e9, &wait)); /* rate 0: no budget */
    rate_limit_free(rl);
}

int main(void) {
    RUN(test_requests);
    RUN(test_take_n_and_give_back);
    return test_summary("rate_limit");
}
