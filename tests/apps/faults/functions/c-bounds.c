/* c-bounds: a C function with two classic memory bugs, for the hardening tests (quilt merge
 * --harden). A JSON number n reads entry n of an 8-entry table without a bounds check:
 * {"square": n*n} for n in 0..7. A JSON string is copied into a 16-byte stack buffer without a
 * length check: {"copied": <bytes>} while it fits. */
#include <quilt.h>
#include <stdio.h>

static const int squares[8] = {0, 1, 4, 9, 16, 25, 36, 49};

static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {
  char reply[64];
  if (len > 0 && in[0] == '"') {
    char copy[16];
    memcpy(copy, in, len); /* the bug: len may exceed sizeof copy */
    int n = snprintf(reply, sizeof reply, "{\"copied\":%zu,\"first\":%d}", len, copy[len - 1]);
    return quilt_buf_set(out, reply, (size_t)n);
  }
  size_t index = 0;
  if (len == 0) return quilt_fail(out, QUILT_ERR_BAD_PAYLOAD, "c-bounds: expected a number or a string");
  for (size_t i = 0; i < len; i++) {
    if (in[i] < '0' || in[i] > '9')
      return quilt_fail(out, QUILT_ERR_BAD_PAYLOAD, "c-bounds: expected a number or a string");
    index = index * 10 + (size_t)(in[i] - '0');
  }
  int n = snprintf(reply, sizeof reply, "{\"square\":%d}", squares[index]); /* the bug: no check */
  return quilt_buf_set(out, reply, (size_t)n);
}

QUILT_FUNCTION(c_bounds, handle)
