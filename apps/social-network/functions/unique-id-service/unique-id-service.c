/* unique-id-service: a unique post id, a random non-negative 63-bit integer, answered as a JSON
 * number (docs/BENCHMARKS.md §1.8, §2.2). The request ({"msg": ""}) is not even parsed. */
#include <quilt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>

/* 8 random bytes from the kernel: getrandom(2), /dev/urandom if that fails. */
static int random_u64(uint64_t *v) {
  ssize_t n;
  do {
    n = getrandom(v, sizeof *v, 0);
  } while (n < 0 && errno == EINTR);
  if (n == (ssize_t)sizeof *v) return 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t got = 0;
  while (got < sizeof *v) {
    ssize_t r = read(fd, (char *)v + got, sizeof *v - got);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      close(fd);
      return -1;
    }
    got += (size_t)r;
  }
  close(fd);
  return 0;
}

static int32_t unique_id_handler(const uint8_t *in, size_t in_len, quilt_buf *out) {
  (void)in;
  (void)in_len;
  uint64_t r;
  if (random_u64(&r) != 0)
    return quilt_fail(out, QUILT_ERR_HANDLER, "unique-id-service: no randomness available");
  char text[24];
  int n = snprintf(text, sizeof text, "%lld", (long long)(r & 0x7fffffffffffffffULL));
  if (quilt_buf_set(out, text, (size_t)n) != QUILT_OK)
    return quilt_fail(out, QUILT_ERR_HANDLER, "out of memory");
  return QUILT_OK;
}

QUILT_FUNCTION(unique_id_service, unique_id_handler)
