// UTF-8, decoded in one place: rule files (E003, diagnostics), profile messages
// and the result JSON's writer all ask the same question of the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace stimrank::utf8 {

// The length of the UTF-8 character at `pos` (1 for ASCII), or 0 when no valid one
// starts there: a stray continuation byte, an overlong form, a surrogate, a code
// point past U+10FFFF, or a character cut short by `end`.
inline std::size_t length(const char* pos, const char* end) noexcept {
  const auto lead = static_cast<unsigned char>(*pos);
  if (lead < 0x80) return 1;
  const std::size_t size = lead >= 0xC2 && lead <= 0xDF   ? 2
                           : lead >= 0xE0 && lead <= 0xEF ? 3
                           : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                          : 0;
  if (size == 0 || static_cast<std::size_t>(end - pos) < size) return 0;
  // The second byte's range is what excludes overlong forms, surrogates and code
  // points past U+10FFFF; the others are any continuation byte.
  const auto second = static_cast<unsigned char>(pos[1]);
  const unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
  const unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
  if (second < low || second > high) return 0;
  for (std::size_t i = 2; i < size; ++i)
    if ((static_cast<unsigned char>(pos[i]) & 0xC0) != 0x80) return 0;
  return size;
}

// The code point of the valid character of `size` bytes (from length) at `pos`.
inline char32_t decode(const char* pos, std::size_t size) noexcept {
  const auto lead = static_cast<unsigned char>(*pos);
  if (size <= 1) return lead;
  char32_t point = lead & (0xFF >> (size + 1));
  for (std::size_t i = 1; i < size; ++i)
    point = (point << 6) | (static_cast<unsigned char>(pos[i]) & 0x3F);
  return point;
}

// The UTF-8 byte order mark some editors put at the start of a file.
inline constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

inline bool valid(std::string_view text) noexcept {
  const char* end = text.data() + text.size();
  for (const char* p = text.data(); p < end;) {
    std::uint64_t word;  // eight ASCII bytes at a time
    if (end - p >= 8 && (std::memcpy(&word, p, 8), (word & 0x8080808080808080ULL) == 0)) {
      p += 8;
      continue;
    }
    const std::size_t size = length(p, end);
    if (size == 0) return false;
    p += size;
  }
  return true;
}

// Characters (code points) in a text, as JSON Schema's maxLength counts them; a
// byte that is not UTF-8 counts as one.
inline std::size_t characters(std::string_view text) noexcept {
  std::size_t count = 0;
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    const std::size_t size = length(p, end);
    p += size ? size : 1;
    ++count;
  }
  return count;
}

// `text` with every byte that is not part of a UTF-8 character, and every control
// character but tab (C0, DEL, C1), as `?` (one byte for one, so byte offsets still
// hold): for quoting input in a message or on a terminal.
inline std::string printable(std::string_view text) {
  std::string out(text);
  const char* begin = out.data();
  const char* end = begin + out.size();
  for (std::size_t i = 0; i < out.size();) {
    const std::size_t size = length(begin + i, end);
    const auto byte = static_cast<unsigned char>(out[i]);
    const bool c0 = size == 1 && ((byte < 0x20 && byte != '\t') || byte == 0x7F);
    const bool c1 = size == 2 && byte == 0xC2 && static_cast<unsigned char>(out[i + 1]) <= 0x9F;
    if (size == 0 || c0) {
      out[i++] = '?';
    } else if (c1) {  // U+0080..U+009F: CSI (U+009B) starts a terminal sequence
      out[i++] = '?';
      out[i++] = '?';
    } else {
      i += size;
    }
  }
  return out;
}

}  // namespace stimrank::utf8
