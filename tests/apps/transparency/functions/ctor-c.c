/* ctor-c: global constructors with explicit and default priorities record the order they ran in;
 * the handler answers that order. A destructor is registered too. */
#include <quilt.h>

static char order[128];
static size_t filled;

static void record(const char *what) {
  size_t n = strlen(what);
  if (filled + n < sizeof(order)) {
    memcpy(order + filled, what, n);
    filled += n;
  }
}

__attribute__((constructor(200))) static void second(void) { record("200,"); }
__attribute__((constructor)) static void plain(void) { record("default,"); }
__attribute__((constructor(101))) static void first(void) { record("101,"); }
__attribute__((constructor)) static void plain_after(void) { record("default-2,"); }
__attribute__((destructor)) static void finish(void) { filled = 0; }

static int32_t handle(const uint8_t *in, size_t in_len, quilt_buf *out) {
  (void)in;
  (void)in_len;
  return quilt_buf_set(out, order, filled);
}

QUILT_FUNCTION(ctor_c, handle)
