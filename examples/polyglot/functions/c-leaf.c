/* c-leaf: answers "c-leaf[<input>]"; fails on "fail", aborts the process on "abort" (a crash that
 * no language can contain: merged, it takes the whole merged instance down). */
#include <quilt.h>

static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {
  if (len == 4 && memcmp(in, "fail", 4) == 0)
    return quilt_fail(out, QUILT_ERR_HANDLER, "c-leaf refuses 'fail'");
  if (len == 5 && memcmp(in, "abort", 5) == 0)
    abort();
  static const char head[] = "c-leaf[";
  size_t n = sizeof(head) - 1 + len + 1;
  uint8_t *p = malloc(n);
  if (!p) return quilt_fail(out, QUILT_ERR_HANDLER, "out of memory");
  memcpy(p, head, sizeof(head) - 1);
  if (len) memcpy(p + sizeof(head) - 1, in, len);
  p[n - 1] = ']';
  out->ptr = p;
  out->len = n;
  out->cap = n;
  return QUILT_OK;
}

QUILT_FUNCTION(c_leaf, handle)
