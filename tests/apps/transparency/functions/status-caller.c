/* status-caller: invokes status-c with its input, naming it through a `const char *`, and answers
 * "status=<s> len=<n> bytes=<hex>" with exactly what it got back. */
#include <quilt.h>
#include <stdio.h>

static int32_t handle(const uint8_t *in, size_t in_len, quilt_buf *out) {
  const char *callee = "status-c";
  quilt_buf reply = {0};
  int32_t status = QUILT_INVOKE(callee, in, in_len, &reply);
  char text[1024];
  int n = snprintf(text, sizeof(text), "status=%d len=%zu ptr=%s bytes=", status, reply.len,
                   reply.ptr ? "set" : "null");
  for (size_t i = 0; i < reply.len && n < (int)sizeof(text) - 3; i++)
    n += snprintf(text + n, sizeof(text) - (size_t)n, "%02x", reply.ptr[i]);
  quilt_buf_free(&reply);
  return quilt_buf_set(out, text, (size_t)n);
}

QUILT_FUNCTION(status_caller, handle)
