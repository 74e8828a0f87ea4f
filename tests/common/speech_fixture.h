#pragma once
// A small synthetic Speech Commands root for the keyword-spotting tests: each word a tone burst of its
// own pitch, so that the classes are separable after a few training steps.
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tinynas/supernet/speech_commands.h"
#include "tinynas/supernet/wav.h"

namespace tinynas_test {

// A tone burst in the middle of a 1 s clip (0.3 s to 0.7 s), so that a time shift moves it.
inline std::vector<int16_t> tone_burst(double hz, double amplitude) {
  constexpr int kClip = tinynas::data::SpeechCommands::kClipSamples;
  constexpr double kPi = 3.14159265358979323846;
  std::vector<int16_t> s(size_t(kClip), 0);
  for (int n = kClip * 3 / 10; n < kClip * 7 / 10; ++n)
    s[size_t(n)] = int16_t(std::lround(amplitude * std::sin(2 * kPi * hz * n / kClip)));
  return s;
}

// yes/ and no/ with `speakers` speakers each, cat/ (an unknown word) with two fewer, all-zero background
// noise; speaker s at amplitude 3000 + 2000 (s mod 15); the second-to-last speaker of each word in validation_list.txt, the last in testing_list.txt.
// With 6 speakers and keywords yes, no (10 % silence and unknown rounded up): train 8 keywords + 1 + 1,
// validation and test 2 keywords + 1 + 1.
inline void write_tone_speech_root(const std::filesystem::path& root, int speakers = 6) {
  namespace fs = std::filesystem;
  constexpr int kClip = tinynas::data::SpeechCommands::kClipSamples;
  const std::vector<std::pair<std::string, double>> words = {{"yes", 440}, {"no", 1200}, {"cat", 2500}};
  fs::create_directories(root);
  std::ofstream validation(root / "validation_list.txt"), testing(root / "testing_list.txt");
  for (const auto& [word, hz] : words) {
    fs::create_directories(root / word);
    const int count = word == "cat" ? speakers - 2 : speakers;
    for (int s = 0; s < count; ++s) {
      const std::string name = "spk" + std::to_string(s) + "_nohash_0.wav";
      tinynas::data::write_wav((root / word / name).string(), tone_burst(hz, 3000 + 2000 * (s % 15)));
      if (s == count - 2) validation << word << "/" << name << "\n";
      if (s == count - 1) testing << word << "/" << name << "\n";
    }
  }
  fs::create_directories(root / "_background_noise_");
  tinynas::data::write_wav((root / "_background_noise_/zeros.wav").string(), std::vector<int16_t>(size_t(2 * kClip), 0));
}

}  // namespace tinynas_test
