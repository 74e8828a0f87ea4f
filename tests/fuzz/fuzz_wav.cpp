// WAV files of a Speech Commands set (data kind speech_commands): any bytes as a clip file.
#include "fuzz_input.h"
#include "tinynas/supernet/wav.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tinynas;
  std::string path = fuzz::as_file(data, size, "clip.wav");
  fuzz::expect_success_or_input_error([&] { data::read_wav(path); });
  return 0;
}
