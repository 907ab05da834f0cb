// Reading an input up to its size limit and one byte more: enough for the caller to
// say the input is over the limit, never all of /dev/zero.
#pragma once

#include <algorithm>
#include <cstddef>
#include <istream>
#include <string>

namespace stimrank {

// `out` gets at most `limit` + 1 bytes of `in`; false when a read failed (not at the
// end of the input, which is no failure).
inline bool read_bounded(std::istream& in, std::string& out, std::size_t limit) {
  out.clear();
  char buffer[1 << 16];
  while (out.size() <= limit) {
    in.read(buffer, static_cast<std::streamsize>(
                        std::min<std::size_t>(sizeof buffer, limit + 1 - out.size())));
    out.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (!in) return !in.bad();
  }
  return true;
}

}  // namespace stimrank
