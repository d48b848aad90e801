/* c-to-cpp: answers "c-to-cpp(<reply of cpp-leaf>)"; a callee error is passed on. */
#include <quilt.h>
#include <stdio.h>

/* The call sits in a helper, not in the entry: the merging compiler finds it anywhere. */
static int32_t call_callee(const uint8_t *in, size_t len, quilt_buf *reply) {
  return QUILT_INVOKE("cpp-leaf", in, len, reply);
}

static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {
  quilt_buf reply = {0, 0, 0};
  int32_t status = call_callee(in, len, &reply);
  if (status != QUILT_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "cpp-leaf failed: %.*s", (int)reply.len, (const char *)reply.ptr);
    quilt_buf_free(&reply);
    return quilt_fail(out, QUILT_ERR_HANDLER, msg);
  }
  static const char head[] = "c-to-cpp(";
  size_t n = sizeof(head) - 1 + reply.len + 1;
  uint8_t *p = malloc(n);
  memcpy(p, head, sizeof(head) - 1);
  if (reply.len) memcpy(p + sizeof(head) - 1, reply.ptr, reply.len);
  p[n - 1] = ')';
  quilt_buf_free(&reply);
  out->ptr = p;
  out->len = n;
  out->cap = n;
  return QUILT_OK;
}

QUILT_FUNCTION(c_to_cpp, handle)
