/* upper: {"text": s} -> {"text": s in ASCII upper case}. Escape sequences are kept as they are. */
#include <quilt.h>

/* Finds the JSON string value of key "text"; returns its start (after the quote) and raw length. */
static int find_text(const char *in, size_t len, const char **start, size_t *raw_len) {
  static const char key[] = "\"text\"";
  for (size_t i = 0; i + sizeof(key) - 1 <= len; i++) {
    if (memcmp(in + i, key, sizeof(key) - 1) != 0) continue;
    size_t j = i + sizeof(key) - 1;
    while (j < len && (in[j] == ' ' || in[j] == '\t' || in[j] == '\n' || in[j] == '\r')) j++;
    if (j >= len || in[j] != ':') continue;
    j++;
    while (j < len && (in[j] == ' ' || in[j] == '\t' || in[j] == '\n' || in[j] == '\r')) j++;
    if (j >= len || in[j] != '"') return -1;
    j++;
    size_t k = j;
    while (k < len && in[k] != '"') k += (in[k] == '\\') ? 2 : 1;
    if (k >= len) return -1;
    *start = in + j;
    *raw_len = k - j;
    return 0;
  }
  return -1;
}

static int32_t upper(const uint8_t *in, size_t len, quilt_buf *out) {
  const char *text;
  size_t n;
  if (find_text((const char *)in, len, &text, &n) != 0)
    return quilt_fail(out, QUILT_ERR_BAD_PAYLOAD, "request: expected {\"text\": string}");
  static const char head[] = "{\"text\":\"";
  size_t total = sizeof(head) - 1 + n + 2;
  char *buf = malloc(total);
  if (!buf) return quilt_fail(out, QUILT_ERR_HANDLER, "out of memory");
  memcpy(buf, head, sizeof(head) - 1);
  char *dst = buf + sizeof(head) - 1;
  for (size_t i = 0; i < n; i++) {
    char c = text[i];
    if (c == '\\') { /* copy the escape sequence unchanged */
      dst[i] = c;
      if (i + 1 < n) { dst[i + 1] = text[i + 1]; i++; }
      continue;
    }
    dst[i] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
  }
  dst[n] = '"';
  dst[n + 1] = '}';
  out->ptr = (uint8_t *)buf;
  out->len = total;
  out->cap = total;
  return QUILT_OK;
}

QUILT_FUNCTION(upper, upper)
