#pragma once
// WAV files of speech clips, read and written with libsndfile: mono 16-bit PCM at one sample rate,
// the format of Google Speech Commands (16 kHz).
#include <cstdint>
#include <string>
#include <vector>

namespace tinynas::data {

constexpr int kSpeechSampleRate = 16000;

// The samples of a mono 16-bit PCM WAV file at `sample_rate` Hz. Throws core::InputError naming the
// file and what is wrong when it is missing or unreadable, not a WAV file, has a broken header, holds
// other samples than 16-bit PCM, more than one channel or another rate, or is shorter than its header
// says (truncated).
std::vector<int16_t> read_wav(const std::string& path, int sample_rate = kSpeechSampleRate);

// Writes `samples` as a mono 16-bit PCM WAV file at `sample_rate` Hz, atomically (a temporary beside
// `path`, then a rename). Throws core::RuntimeFailure when it cannot be written.
void write_wav(const std::string& path, const std::vector<int16_t>& samples, int sample_rate = kSpeechSampleRate);

}  // namespace tinynas::data
