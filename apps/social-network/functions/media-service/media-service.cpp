// media-service: zips {"media_id":[i64],"media_type":[str]} into [{"media_type":str,"media_id":i64}]
// (docs/BENCHMARKS.md §2.2). Lists of different lengths fail with the reference's message.
#include <quilt.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

// A strict reader for the little JSON this function takes: it keeps string tokens raw (quotes and
// escapes included, already valid JSON) and integers as i64; other values of unknown fields are
// skipped after validation.
class Reader {
 public:
  Reader(const char *p, size_t n) : p_(p), end_(p + n) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) p_++;
  }
  bool eat(char c) {
    ws();
    if (p_ < end_ && *p_ == c) {
      p_++;
      return true;
    }
    return false;
  }
  bool at_end() {
    ws();
    return p_ == end_;
  }

  bool string(std::string *raw) {
    ws();
    if (p_ >= end_ || *p_ != '"') return false;
    const char *start = p_++;
    while (p_ < end_ && *p_ != '"') {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++p_ >= end_) return false;
        char e = *p_;
        if (e == 'u') {
          for (int i = 0; i < 4; i++) {
            if (++p_ >= end_ || !is_hex(*p_)) return false;
          }
        } else if (std::string("\"\\/bfnrt").find(e) == std::string::npos) {
          return false;
        }
      }
      p_++;
    }
    if (p_ >= end_) return false;
    p_++;
    if (raw) raw->assign(start, static_cast<size_t>(p_ - start));
    return true;
  }

  bool integer(long long *v) {
    ws();
    const char *start = p_;
    if (p_ < end_ && *p_ == '-') p_++;
    const char *digits = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') p_++;
    if (p_ == digits) return false;
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    std::string text(start, static_cast<size_t>(p_ - start));
    errno = 0;
    *v = std::strtoll(text.c_str(), nullptr, 10);
    return errno != ERANGE;
  }

  // Any JSON value, validated and discarded.
  bool skip(int depth = 0) {
    if (depth > 64) return false;
    ws();
    if (p_ >= end_) return false;
    char c = *p_;
    if (c == '"') return string(nullptr);
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      p_++;
      if (eat(close)) return true;
      do {
        if (c == '{' && !(string(nullptr) && eat(':'))) return false;
        if (!skip(depth + 1)) return false;
      } while (eat(','));
      return eat(close);
    }
    for (const char *lit : {"true", "false", "null"}) {
      size_t n = std::char_traits<char>::length(lit);
      if (static_cast<size_t>(end_ - p_) >= n && std::string(p_, n) == lit) {
        p_ += n;
        return true;
      }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      p_++;
      while (p_ < end_ && (std::string("0123456789.eE+-").find(*p_) != std::string::npos)) p_++;
      return true;
    }
    return false;
  }

 private:
  static bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }
  const char *p_;
  const char *end_;
};

template <typename T, typename F>
bool list(Reader &r, std::vector<T> *out, F item) {
  if (!r.eat('[')) return false;
  if (r.eat(']')) return true;
  do {
    T v;
    if (!item(&v)) return false;
    out->push_back(v);
  } while (r.eat(','));
  return r.eat(']');
}

int32_t bad(quilt_buf *out, const std::string &why) {
  return quilt::reply(out, "request: " + why, QUILT_ERR_BAD_PAYLOAD);
}

int32_t media_service(const uint8_t *in, size_t len, quilt_buf *out) {
  Reader r(reinterpret_cast<const char *>(in), len);
  std::vector<long long> ids;
  std::vector<std::string> types;
  bool have_ids = false, have_types = false;
  if (!r.eat('{')) return bad(out, "expected a JSON object");
  if (!r.eat('}')) {
    do {
      std::string key;
      if (!r.string(&key) || !r.eat(':')) return bad(out, "malformed object");
      if (key == "\"media_id\"") {
        ids.clear();
        if (!list(r, &ids, [&](long long *v) { return r.integer(v); }))
          return bad(out, "media_id: expected a list of 64-bit integers");
        have_ids = true;
      } else if (key == "\"media_type\"") {
        types.clear();
        if (!list(r, &types, [&](std::string *s) { return r.string(s); }))
          return bad(out, "media_type: expected a list of strings");
        have_types = true;
      } else if (!r.skip()) {
        return bad(out, "malformed value");
      }
    } while (r.eat(','));
    if (!r.eat('}')) return bad(out, "malformed object");
  }
  if (!r.at_end()) return bad(out, "trailing characters");
  if (!have_ids) return bad(out, "missing field `media_id`");
  if (!have_types) return bad(out, "missing field `media_type`");
  if (ids.size() != types.size())
    return quilt::reply(out, "the length of media_id and media_type are not equal",
                        QUILT_ERR_HANDLER);
  std::string reply = "[";
  for (size_t i = 0; i < ids.size(); i++) {
    if (i) reply += ',';
    reply += "{\"media_type\":" + types[i] + ",\"media_id\":" + std::to_string(ids[i]) + "}";
  }
  reply += ']';
  return quilt::reply(out, reply);
}

}  // namespace

extern "C" QUILT_FUNCTION(media_service, media_service)

