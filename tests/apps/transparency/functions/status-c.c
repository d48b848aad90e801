/* status-c: input "<status>:<message>" returns that status with that message; "bad-utf8" returns
 * status 1 with bytes that are not UTF-8; "empty" returns success without touching its output. */
#include <quilt.h>
#include <stdio.h>

static int32_t handle(const uint8_t *in, size_t in_len, quilt_buf *out) {
  char text[256];
  size_t n = in_len < sizeof(text) - 1 ? in_len : sizeof(text) - 1;
  memcpy(text, in, n);
  text[n] = 0;
  if (strcmp(text, "bad-utf8") == 0) {
    static const uint8_t bad[] = {'b', 'a', 'd', ' ', 0xff, 0xfe, '!'};
    quilt_buf_set(out, bad, sizeof(bad));
    return QUILT_ERR_HANDLER;
  }
  if (strcmp(text, "empty") == 0) return QUILT_OK;
  int status = 0;
  int used = 0;
  if (sscanf(text, "%d:%n", &status, &used) < 1) return quilt_fail(out, QUILT_ERR_BAD_PAYLOAD, "want <status>:<message>");
  quilt_buf_set_str(out, text + used);
  return status;
}

QUILT_FUNCTION(status_c, handle)
