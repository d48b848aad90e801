/* quilt.h: the C and C++ SDK of Quilt, and the C ABI boundary every language lowers to.
 *
 * A function is a C symbol `int32_t quilt_fn_<ident>(const uint8_t *in, size_t in_len, quilt_buf *out)`,
 * where <ident> is the function's name with '-' replaced by '_'. It writes its reply (or, on error, an
 * error message) into `out` and returns QUILT_OK or an error status.
 *
 * Buffers crossing the boundary are allocated with malloc and released with quilt_buf_free, whatever
 * the language on either side.
 */
#ifndef QUILT_H
#define QUILT_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A byte buffer owned by whoever holds it; memory from malloc. */
typedef struct {
  uint8_t *ptr;
  size_t len;
  size_t cap;
} quilt_buf;

/** Status codes returned by functions, quilt_invoke and quilt_await. */
enum {
  QUILT_OK = 0,
  QUILT_ERR_HANDLER = 1,     /* the function failed; out holds its message (HTTP 500) */
  QUILT_ERR_BAD_PAYLOAD = 2, /* the input could not be decoded (HTTP 400) */
  QUILT_ERR_UNKNOWN = 3,     /* no such function (HTTP 404) */
  QUILT_ERR_TIMEOUT = 4,     /* the call timed out (HTTP 504) */
  QUILT_ERR_UNAVAILABLE = 5  /* no instance could serve it: overload, crash, network (HTTP 502/503) */
};

/** Invokes function `name` synchronously; on return `out` holds the reply or an error message. */
int32_t quilt_invoke(const char *name, size_t name_len, const uint8_t *in, size_t in_len,
                     quilt_buf *out);
/** Starts function `name` asynchronously; the handle must be passed to quilt_await exactly once. */
uint64_t quilt_invoke_async(const char *name, size_t name_len, const uint8_t *in, size_t in_len);
/** Waits for an asynchronous invocation; `out` receives the reply or an error message. */
int32_t quilt_await(uint64_t handle, quilt_buf *out);

/** Releases a buffer's memory and empties it. */
static inline void quilt_buf_free(quilt_buf *b) {
  free(b->ptr);
  b->ptr = NULL;
  b->len = 0;
  b->cap = 0;
}

/** Sets `out` to a malloc'd copy of `len` bytes at `data`. Returns QUILT_OK, or -1 if out of memory. */
static inline int32_t quilt_buf_set(quilt_buf *out, const void *data, size_t len) {
  uint8_t *p = (uint8_t *)malloc(len ? len : 1);
  if (!p) return -1;
  if (len) memcpy(p, data, len);
  out->ptr = p;
  out->len = len;
  out->cap = len ? len : 1;
  return QUILT_OK;
}

/** Sets `out` to a copy of a NUL-terminated string. */
static inline int32_t quilt_buf_set_str(quilt_buf *out, const char *s) {
  return quilt_buf_set(out, s, strlen(s));
}

/** Sets `out` to an error message and returns `status`, for `return quilt_fail(out, ..., "...")`. */
static inline int32_t quilt_fail(quilt_buf *out, int32_t status, const char *message) {
  quilt_buf_set_str(out, message);
  return status;
}

/* Invocation by a NUL-terminated name: a literal or a `const char *`. The length is taken with
 * __builtin_strlen, which the compiler folds to a constant for a literal (or a pointer to constant
 * text), so the merging compiler still sees a constant name and turns the call into a direct call;
 * a name computed at run time is measured at run time and resolved then. */
#define QUILT_INVOKE(name, in, in_len, out)                                                     \
  quilt_invoke((name), __builtin_strlen(name), (const uint8_t *)(in), (in_len), (out))
#define QUILT_INVOKE_ASYNC(name, in, in_len) \
  quilt_invoke_async((name), __builtin_strlen(name), (const uint8_t *)(in), (in_len))

/* Defines the entry of function <ident> (its name with '-' replaced by '_') from a handler
 * `int32_t handler(const uint8_t *in, size_t in_len, quilt_buf *out)`. */
#define QUILT_FUNCTION(ident, handler)                                                   \
  int32_t quilt_fn_##ident(const uint8_t *in, size_t in_len, quilt_buf *out) {           \
    out->ptr = NULL;                                                                     \
    out->len = 0;                                                                        \
    out->cap = 0;                                                                        \
    return handler(in, in_len, out);                                                     \
  }

#ifdef __cplusplus
} /* extern "C" */

#include <string>
#include <string_view>

namespace quilt {
/** The outcome of an invocation in C++: a status and the reply or error text. */
struct Reply {
  int32_t status;
  std::string body;
  bool ok() const { return status == QUILT_OK; }
};

inline Reply take(int32_t status, quilt_buf &b) {
  Reply r{status, std::string(reinterpret_cast<const char *>(b.ptr), b.len)};
  quilt_buf_free(&b);
  return r;
}

/** Synchronous invocation; inlined so that a literal name stays a constant at the call site. */
__attribute__((always_inline)) inline Reply invoke(std::string_view name, std::string_view in) {
  quilt_buf out{nullptr, 0, 0};
  int32_t s = quilt_invoke(name.data(), name.size(), reinterpret_cast<const uint8_t *>(in.data()),
                           in.size(), &out);
  return take(s, out);
}

/** A started asynchronous invocation; join() it exactly once. */
class Pending {
 public:
  explicit Pending(uint64_t h) : handle_(h) {}
  Pending(Pending &&o) noexcept : handle_(o.handle_) { o.handle_ = 0; }
  Pending(const Pending &) = delete;
  ~Pending() {
    if (handle_) join();
  }
  Reply join() {
    quilt_buf out{nullptr, 0, 0};
    int32_t s = quilt_await(handle_, &out);
    handle_ = 0;
    return take(s, out);
  }

 private:
  uint64_t handle_;
};

__attribute__((always_inline)) inline Pending invoke_async(std::string_view name,
                                                           std::string_view in) {
  return Pending(quilt_invoke_async(name.data(), name.size(),
                                    reinterpret_cast<const uint8_t *>(in.data()), in.size()));
}

/** Copies a reply into `out` and returns `status`: the usual end of a C++ handler. */
inline int32_t reply(quilt_buf *out, std::string_view body, int32_t status = QUILT_OK) {
  quilt_buf_set(out, body.data(), body.size());
  return status;
}
}  // namespace quilt
#endif

#endif /* QUILT_H */
