// ctor-cpp: namespace-scope objects with dynamic initializers; the handler answers their values.
#include <quilt.h>

#include <string>

namespace {
const std::string greeting = std::string("con") + "structed";

struct Counted {
  int value;
  Counted() : value(static_cast<int>(greeting.size()) * 2) {}
};
Counted counted;
}  // namespace

static int32_t handle(const uint8_t *, size_t, quilt_buf *out) {
  return quilt::reply(out, greeting + ":" + std::to_string(counted.value));
}

extern "C" QUILT_FUNCTION(ctor_cpp, handle)
