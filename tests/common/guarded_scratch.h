#pragma once
// Kernel scratch with guard bytes after the planned size: a kernel that writes past its scratch
// function's figure fails the test (guard_intact); under AddressSanitizer the guard is poisoned, so a
// read past it is reported too.
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define TINYNAS_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TINYNAS_TEST_ASAN 1
#endif
#endif
#if defined(TINYNAS_TEST_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace tinynas_test {

struct GuardedScratch {
  explicit GuardedScratch(int32_t bytes) : size(size_t(bytes)), words((size_t(bytes) + 64 + 3) / 4, 0x5A5A5A5A) {
    poison_guard(true);
  }
  ~GuardedScratch() { poison_guard(false); }
  GuardedScratch(const GuardedScratch&) = delete;
  GuardedScratch& operator=(const GuardedScratch&) = delete;
  // The scratch as the kernel's pointer type (int16 for the int8 kernels, int32 for the MFCC).
  template <typename T = int16_t>
  T* get() {
    return reinterpret_cast<T*>(words.data());
  }
  bool guard_intact() {
    poison_guard(false);
    const uint8_t* b = reinterpret_cast<const uint8_t*>(words.data());
    bool intact = true;
    for (size_t i = size; i < words.size() * 4; ++i)
      if (b[i] != 0x5A) intact = false;
    poison_guard(true);
    return intact;
  }
  void poison_guard(bool on) {
#if defined(TINYNAS_TEST_ASAN)
    uint8_t* guard = reinterpret_cast<uint8_t*>(words.data()) + size;
    const size_t bytes = words.size() * 4 - size;
    if (on)
      ASAN_POISON_MEMORY_REGION(guard, bytes);
    else
      ASAN_UNPOISON_MEMORY_REGION(guard, bytes);
#else
    (void)on;
#endif
  }
  size_t size;
  std::vector<uint32_t> words;
};

}  // namespace tinynas_test
