#include "tinynas/supernet/wav.h"

#include <sndfile.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <memory>

#include "tinynas/core/errors.h"
#include "tinynas/core/files.h"

namespace tinynas::data {

namespace {

namespace fs = std::filesystem;

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

// libsndfile's name of a major format or a sample encoding ("FLAC (Free Lossless Audio Codec)",
// "32 bit float").
std::string format_name(int format) {
  SF_FORMAT_INFO info{};
  info.format = format;
  if (sf_command(nullptr, SFC_GET_FORMAT_INFO, &info, sizeof info) != 0 || !info.name) return "format " + std::to_string(format);
  return info.name;
}

// Data sizes that streaming writers leave in a header they cannot go back to (unknown length), so
// they say nothing about truncation.
bool is_unknown_length_marker(uint32_t declared_bytes) { return declared_bytes == 0 || declared_bytes >= 0x7FFF0000u; }

// The byte count the header declares for the sample data; 0 when libsndfile cannot tell.
uint32_t declared_data_bytes(SNDFILE* file) {
  SF_CHUNK_INFO wanted{};
  std::memcpy(wanted.id, "data", 4);
  wanted.id_size = 4;
  SF_CHUNK_ITERATOR* chunk = sf_get_chunk_iterator(file, &wanted);
  if (!chunk) return 0;
  SF_CHUNK_INFO found{};
  if (sf_get_chunk_size(chunk, &found) != SF_ERR_NO_ERROR) return 0;
  return found.datalen;
}

// An in-memory file for sf_open_virtual, so the finished WAV goes to disk in one atomic write.
struct MemoryFile {
  std::string bytes;
  sf_count_t position = 0;
};

sf_count_t memory_length(void* user) { return sf_count_t(static_cast<MemoryFile*>(user)->bytes.size()); }

sf_count_t memory_seek(sf_count_t offset, int whence, void* user) {
  auto* file = static_cast<MemoryFile*>(user);
  const sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? file->position : sf_count_t(file->bytes.size());
  file->position = std::max<sf_count_t>(0, base + offset);
  return file->position;
}

sf_count_t memory_read(void* destination, sf_count_t count, void* user) {
  auto* file = static_cast<MemoryFile*>(user);
  const sf_count_t available = std::max<sf_count_t>(0, sf_count_t(file->bytes.size()) - file->position);
  const sf_count_t n = std::min(count, available);
  if (n > 0) std::memcpy(destination, file->bytes.data() + file->position, size_t(n));
  file->position += n;
  return n;
}

sf_count_t memory_write(const void* source, sf_count_t count, void* user) {
  auto* file = static_cast<MemoryFile*>(user);
  const size_t end = size_t(file->position + count);
  if (end > file->bytes.size()) file->bytes.resize(end);
  std::memcpy(file->bytes.data() + file->position, source, size_t(count));
  file->position += count;
  return count;
}

sf_count_t memory_tell(void* user) { return static_cast<MemoryFile*>(user)->position; }

}  // namespace

std::vector<int16_t> read_wav(const std::string& path, int sample_rate) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw core::InputError(path + ": no such file");
  if (!fs::is_regular_file(path, ec)) throw core::InputError(path + ": not a regular file");
  SF_INFO info{};
  SndfilePtr file(sf_open(path.c_str(), SFM_READ, &info));
  if (!file) throw core::InputError(path + ": not a readable WAV file (" + sf_strerror(nullptr) + ")");

  const int major = info.format & SF_FORMAT_TYPEMASK, encoding = info.format & SF_FORMAT_SUBMASK;
  if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX)
    throw core::InputError(path + ": " + format_name(major) + " file, expected WAV");
  if (encoding != SF_FORMAT_PCM_16)
    throw core::InputError(path + ": " + format_name(encoding) + " samples, expected 16-bit PCM");
  if (info.channels != 1)
    throw core::InputError(path + ": " + std::to_string(info.channels) + " channels, expected mono");
  if (info.samplerate != sample_rate)
    throw core::InputError(path + ": " + std::to_string(info.samplerate) + " Hz, expected " + std::to_string(sample_rate) + " Hz");
  // libsndfile reads a cut file up to where it ends; a clip missing its end is an error all the same.
  const uint32_t declared = declared_data_bytes(file.get());
  const sf_count_t present = info.frames * 2;
  if (!is_unknown_length_marker(declared) && sf_count_t(declared) > present + 1)
    throw core::InputError(path + ": truncated (the header declares " + std::to_string(declared) +
                           " bytes of samples, the file holds " + std::to_string(present) + ")");

  std::vector<int16_t> samples(size_t(info.frames));
  const sf_count_t read = sf_readf_short(file.get(), samples.data(), info.frames);
  if (read != info.frames)
    throw core::InputError(path + ": read " + std::to_string(read) + " of " + std::to_string(info.frames) +
                           " samples (" + sf_strerror(file.get()) + ")");
  return samples;
}

void write_wav(const std::string& path, const std::vector<int16_t>& samples, int sample_rate) {
  if (sample_rate <= 0) throw core::RuntimeFailure(path + ": sample rate must be positive, got " + std::to_string(sample_rate));
  MemoryFile memory;
  SF_VIRTUAL_IO io{memory_length, memory_seek, memory_read, memory_write, memory_tell};
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  {
    SndfilePtr file(sf_open_virtual(&io, SFM_WRITE, &info, &memory));
    if (!file) throw core::RuntimeFailure(path + ": cannot encode WAV (" + std::string(sf_strerror(nullptr)) + ")");
    const sf_count_t frames = sf_count_t(samples.size());
    if (sf_writef_short(file.get(), samples.data(), frames) != frames)
      throw core::RuntimeFailure(path + ": cannot encode WAV (" + std::string(sf_strerror(file.get())) + ")");
  }  // closing writes the final sizes into the header
  core::write_file_atomic(path, memory.bytes);
}

}  // namespace tinynas::data
