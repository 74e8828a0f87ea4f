#pragma once
// Kernel scratch with guard bytes after the planned size: a kernel that writes past its scratch
// function's figure fails the test (guard_intact).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tinynas_test {

struct GuardedScratch {
  explicit GuardedScratch(int32_t bytes) : size(size_t(bytes)), words((size_t(bytes) + 64 + 3) / 4, 0x5A5A5A5A) {}
  // The scratch as the kernel's pointer type (int16 for the int8 kernels, int32 for the MFCC).
  template <typename T = int16_t>
  T* get() {
    return reinterpret_cast<T*>(words.data());
  }
  bool guard_intact() const {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(words.data());
    for (size_t i = size; i < words.size() * 4; ++i)
      if (b[i] != 0x5A) return false;
    return true;
  }
  size_t size;
  std::vector<uint32_t> words;
};

}  // namespace tinynas_test
