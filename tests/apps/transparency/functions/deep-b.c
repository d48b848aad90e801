/* deep-b: holds 1 MiB on its stack while it calls deep-c, then answers a checksum and deep-c's reply. */
#include <quilt.h>
#include <stdio.h>

static int32_t handle(const uint8_t *in, size_t in_len, quilt_buf *out) {
  volatile unsigned char buf[1 << 20];
  for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (unsigned char)(i % 7);
  quilt_buf next = {0};
  int32_t status = QUILT_INVOKE("deep-c", in, in_len, &next);
  if (status != QUILT_OK) {
    quilt_buf_free(&next);
    return quilt_fail(out, status, "deep-c failed");
  }
  unsigned long sum = 0;
  for (size_t i = 0; i < sizeof(buf); i++) sum += buf[i];
  char text[128];
  int n = snprintf(text, sizeof(text), "b:%lu/", sum);
  size_t len = (size_t)n + next.len;
  uint8_t *joined = (uint8_t *)malloc(len);
  memcpy(joined, text, (size_t)n);
  if (next.len) memcpy(joined + n, next.ptr, next.len);
  quilt_buf_free(&next);
  out->ptr = joined;
  out->len = len;
  out->cap = len;
  return QUILT_OK;
}

QUILT_FUNCTION(deep_b, handle)
