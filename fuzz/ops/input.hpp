// The fuzzer's input: a byte stream read front to back; past its end every
// read is 0 (the corpus format: fuzz/make_seeds.py).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ops_fuzz {

struct Input {
  const std::uint8_t* p;
  std::size_t n;
  bool empty() const { return n == 0; }
  std::uint8_t byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  std::uint32_t u16() { return byte() | (std::uint32_t{byte()} << 8); }
};

}  // namespace ops_fuzz
