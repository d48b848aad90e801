// cpp-leaf: answers "cpp-leaf[<input>]"; fails on "fail".
#include <quilt.h>

static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {
  std::string input(reinterpret_cast<const char *>(in), len);
  if (input == "fail") return quilt::reply(out, "cpp-leaf refuses 'fail'", QUILT_ERR_HANDLER);
  return quilt::reply(out, "cpp-leaf[" + input + "]");
}

extern "C" QUILT_FUNCTION(cpp_leaf, handle)
