// cpp-to-rust: answers "cpp-to-rust(<reply of rust-leaf>)"; a callee error is passed on.
#include <quilt.h>

static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {
  quilt::Reply r = quilt::invoke("rust-leaf", std::string_view(reinterpret_cast<const char *>(in), len));
  if (!r.ok()) return quilt::reply(out, "rust-leaf failed: " + r.body, QUILT_ERR_HANDLER);
  return quilt::reply(out, "cpp-to-rust(" + r.body + ")");
}

extern "C" QUILT_FUNCTION(cpp_to_rust, handle)
