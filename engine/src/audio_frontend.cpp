#include "tinynas/engine/audio_frontend.h"

#include <kissfft/kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <sstream>
#include <string>

#include "tinynas/core/errors.h"
#include "tn_scratch.h"

namespace tinynas::engine {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int32_t kMaxFftSize = 65536;   // tn_mfcc_params' limit
constexpr int32_t kMaxMelChannels = 1024;  // keeps the kernel's int64 DCT sums far from overflow
constexpr int32_t kMinLogFloorExponent = -40;

[[noreturn]] void fail(const std::string& field, const std::string& why) {
  throw core::InputError("audio front-end: " + field + " " + why);
}

std::string str(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }

struct MelFilterbank {
  std::vector<int32_t> start;
  std::vector<std::vector<double>> weights;
};

// Triangles in mel: channel m rises from edge m to edge m + 1 and falls to edge m + 2, the
// mel_channels + 2 edges equally spaced in mel from mel_lower_hz to mel_upper_hz; FFT bin k sits at
// k * sample_rate / fft_size Hz. A channel keeps the contiguous bins of positive weight.
MelFilterbank mel_filterbank(const AudioFrontendConfig& c) {
  const double low = hz_to_mel(c.mel_lower_hz), high = hz_to_mel(c.mel_upper_hz);
  std::vector<double> edges(size_t(c.mel_channels) + 2);
  for (size_t i = 0; i < edges.size(); ++i) edges[i] = low + (high - low) * double(i) / double(c.mel_channels + 1);
  MelFilterbank bank;
  bank.start.assign(size_t(c.mel_channels), 0);
  bank.weights.resize(size_t(c.mel_channels));
  for (int32_t m = 0; m < c.mel_channels; ++m) {
    const double lower = edges[size_t(m)], center = edges[size_t(m) + 1], upper = edges[size_t(m) + 2];
    for (int32_t k = 0; k <= c.fft_size / 2; ++k) {
      const double mel = hz_to_mel(double(k) * c.sample_rate / c.fft_size);
      const double w = std::min((mel - lower) / (center - lower), (upper - mel) / (upper - center));
      if (w <= 0.0) continue;
      if (bank.weights[size_t(m)].empty()) bank.start[size_t(m)] = k;
      bank.weights[size_t(m)].push_back(w);
    }
  }
  return bank;
}

using FftrConfig = std::unique_ptr<kiss_fftr_state, void (*)(kiss_fftr_cfg)>;

FftrConfig make_fftr(int32_t fft_size) {
  FftrConfig cfg(kiss_fftr_alloc(fft_size, 0, nullptr, nullptr), [](kiss_fftr_cfg p) { kiss_fftr_free(p); });
  if (!cfg) throw core::RuntimeFailure("audio front-end: kissfft could not allocate an FFT of " + std::to_string(fft_size));
  return cfg;
}

void check_clip(const AudioFrontendConfig& c, const std::vector<int16_t>& pcm) {
  if (int64_t(pcm.size()) != c.clip_samples)
    fail("clip_samples", "is " + std::to_string(c.clip_samples) + " but the clip has " + std::to_string(pcm.size()) +
                             " samples");
}

// ln(max(mel, floor)) of every frame, in double: [frames][mel_channels].
std::vector<double> log_mel_energies(const AudioFrontendConfig& c, const AudioFrontendTables& t,
                                     const std::vector<int16_t>& pcm) {
  check_clip(c, pcm);
  const FftrConfig fft = make_fftr(c.fft_size);
  const double floor = std::ldexp(1.0, c.log_floor_exponent);
  const int32_t frames = c.frames();
  std::vector<kiss_fft_scalar> frame(size_t(c.fft_size), 0.0f);
  std::vector<kiss_fft_cpx> spectrum(size_t(c.fft_size) / 2 + 1);
  std::vector<double> power(spectrum.size());
  std::vector<double> out(size_t(frames) * size_t(c.mel_channels));
  for (int32_t f = 0; f < frames; ++f) {
    const int16_t* samples = pcm.data() + size_t(f) * size_t(c.stride_samples);
    for (int32_t n = 0; n < c.window_samples; ++n)
      frame[size_t(n)] = kiss_fft_scalar(samples[n] / 32768.0 * t.window[size_t(n)]);
    kiss_fftr(fft.get(), frame.data(), spectrum.data());
    for (size_t k = 0; k < spectrum.size(); ++k)
      power[k] = double(spectrum[k].r) * spectrum[k].r + double(spectrum[k].i) * spectrum[k].i;
    for (int32_t m = 0; m < c.mel_channels; ++m) {
      const std::vector<double>& w = t.mel_weights[size_t(m)];
      double energy = 0.0;
      for (size_t j = 0; j < w.size(); ++j) energy += w[j] * power[size_t(t.mel_start[size_t(m)]) + j];
      out[size_t(f) * size_t(c.mel_channels) + size_t(m)] = std::log(std::max(energy, floor));
    }
  }
  return out;
}

// The smallest shift s >= 0 with bound / 2^s <= limit.
int32_t shift_to_fit(double bound, double limit) {
  int32_t s = 0;
  while (bound > limit) {
    bound /= 2.0;
    ++s;
  }
  return s;
}

template <typename T>
void c_array(std::ostringstream& out, const char* type, const std::string& name, const std::vector<T>& values) {
  out << "static const " << type << " " << name << "[" << values.size() << "] = {";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i % 12 == 0) out << "\n   ";
    out << " " << int64_t(values[i]) << ",";
  }
  out << "\n};\n\n";
}

}  // namespace

int32_t AudioFrontendConfig::frames() const {
  if (window_samples <= 0 || stride_samples <= 0 || clip_samples < window_samples) return 0;
  return 1 + (clip_samples - window_samples) / stride_samples;
}

void validate_audio_frontend_config(const AudioFrontendConfig& c) {
  const auto positive = [](const char* field, int64_t v) {
    if (v <= 0) fail(field, "must be positive, not " + std::to_string(v));
  };
  positive("sample_rate", c.sample_rate);
  positive("clip_samples", c.clip_samples);
  positive("window_samples", c.window_samples);
  positive("stride_samples", c.stride_samples);
  positive("fft_size", c.fft_size);
  positive("mel_channels", c.mel_channels);
  positive("coefficients", c.coefficients);
  if (c.window_samples > c.clip_samples)
    fail("window_samples", "(" + std::to_string(c.window_samples) + ") is longer than clip_samples (" +
                               std::to_string(c.clip_samples) + ")");
  if ((c.fft_size & (c.fft_size - 1)) != 0 || c.fft_size < 4 || c.fft_size > kMaxFftSize)
    fail("fft_size", "(" + std::to_string(c.fft_size) + ") must be a power of two from 4 to " + std::to_string(kMaxFftSize));
  if (c.fft_size < c.window_samples)
    fail("fft_size", "(" + std::to_string(c.fft_size) + ") is smaller than window_samples (" +
                         std::to_string(c.window_samples) + ")");
  if (c.mel_channels > kMaxMelChannels)
    fail("mel_channels", "(" + std::to_string(c.mel_channels) + ") is above " + std::to_string(kMaxMelChannels));
  if (c.coefficients > c.mel_channels)
    fail("coefficients", "(" + std::to_string(c.coefficients) + ") is more than mel_channels (" +
                             std::to_string(c.mel_channels) + ")");
  const double nyquist = c.sample_rate / 2.0;
  if (!(c.mel_lower_hz >= 0.0)) fail("mel_lower_hz", "must be at least 0 Hz, not " + str(c.mel_lower_hz));
  if (!(c.mel_upper_hz > c.mel_lower_hz))
    fail("mel_upper_hz", "(" + str(c.mel_upper_hz) + " Hz) must be above mel_lower_hz (" + str(c.mel_lower_hz) + " Hz)");
  if (c.mel_upper_hz > nyquist)
    fail("mel_upper_hz", "(" + str(c.mel_upper_hz) + " Hz) is above the Nyquist frequency (" + str(nyquist) + " Hz)");
  if (c.log_floor_exponent < kMinLogFloorExponent || c.log_floor_exponent >= 0)
    fail("log_floor_exponent", "(" + std::to_string(c.log_floor_exponent) + ") must be from " +
                                   std::to_string(kMinLogFloorExponent) + " to -1");
  const MelFilterbank bank = mel_filterbank(c);
  for (int32_t m = 0; m < c.mel_channels; ++m)
    if (bank.weights[size_t(m)].empty())
      fail("mel_channels", "(" + std::to_string(c.mel_channels) + "): channel " + std::to_string(m) +
                               " covers no FFT bin; use fewer channels or a larger fft_size");
}

AudioFrontendTables audio_frontend_tables(const AudioFrontendConfig& c) {
  validate_audio_frontend_config(c);
  AudioFrontendTables t;
  t.window.resize(size_t(c.window_samples));
  for (int32_t n = 0; n < c.window_samples; ++n)
    t.window[size_t(n)] = 0.5 - 0.5 * std::cos(2.0 * kPi * n / c.window_samples);
  MelFilterbank bank = mel_filterbank(c);
  t.mel_start = std::move(bank.start);
  t.mel_weights = std::move(bank.weights);
  t.dct.resize(size_t(c.coefficients) * size_t(c.mel_channels));
  for (int32_t k = 0; k < c.coefficients; ++k)
    for (int32_t m = 0; m < c.mel_channels; ++m)
      t.dct[size_t(k) * size_t(c.mel_channels) + size_t(m)] =
          std::sqrt((k == 0 ? 1.0 : 2.0) / c.mel_channels) * std::cos(kPi * k * (m + 0.5) / c.mel_channels);
  return t;
}

std::vector<float> audio_log_mel(const AudioFrontendConfig& c, const AudioFrontendTables& t,
                                 const std::vector<int16_t>& pcm) {
  const std::vector<double> log_mel = log_mel_energies(c, t, pcm);
  return std::vector<float>(log_mel.begin(), log_mel.end());
}

std::vector<float> audio_features(const AudioFrontendConfig& c, const AudioFrontendTables& t,
                                  const std::vector<int16_t>& pcm) {
  const std::vector<double> log_mel = log_mel_energies(c, t, pcm);
  const int32_t frames = c.frames();
  const size_t channels = size_t(c.mel_channels);
  std::vector<float> out(size_t(frames) * size_t(c.coefficients));
  for (int32_t f = 0; f < frames; ++f)
    for (int32_t k = 0; k < c.coefficients; ++k) {
      double acc = 0.0;
      for (size_t m = 0; m < channels; ++m) acc += t.dct[size_t(k) * channels + m] * log_mel[size_t(f) * channels + m];
      out[size_t(f) * size_t(c.coefficients) + size_t(k)] = float(acc);
    }
  return out;
}

AudioFeatureQuantization audio_feature_quantization(const AudioFrontendConfig& c) {
  validate_audio_frontend_config(c);
  double window_energy = 0.0;  // sum of hann^2
  for (int32_t n = 0; n < c.window_samples; ++n) {
    const double w = 0.5 - 0.5 * std::cos(2.0 * kPi * n / c.window_samples);
    window_energy += w * w;
  }
  AudioFeatureQuantization q;
  const double root = std::sqrt(double(c.mel_channels));
  q.min = root * c.log_floor_exponent * std::log(2.0);
  q.max = root * std::log(double(c.fft_size) * window_energy);
  if (!(q.max > q.min))
    fail("log_floor_exponent", "(" + std::to_string(c.log_floor_exponent) + ") leaves no range below the largest mel energy");
  q.scale = (q.max - q.min) / 255.0;
  q.zero_point = int32_t(std::clamp<long>(std::lround(-128.0 - q.min / q.scale), -128, 127));
  return q;
}

std::vector<int8_t> quantize_audio_features(const AudioFeatureQuantization& q, const std::vector<float>& features) {
  std::vector<int8_t> out(features.size());
  for (size_t i = 0; i < features.size(); ++i)
    out[i] = int8_t(std::clamp<long>(std::lround(double(features[i]) / q.scale) + q.zero_point, -128, 127));
  return out;
}

AudioFrontendFixed audio_frontend_fixed(const AudioFrontendConfig& c, const AudioFrontendTables& t) {
  validate_audio_frontend_config(c);
  AudioFrontendFixed x;
  x.config = c;
  x.window_q30.resize(t.window.size());
  for (size_t n = 0; n < t.window.size(); ++n) x.window_q30[n] = int32_t(std::lround(t.window[n] * 1073741824.0));

  // Windowed samples: 2 * sum |s| <= 2^30 bounds every FFT value and the split's sums (tn_audio.c);
  // the slack covers the rounding of samples and twiddle products.
  double sum_abs = 0.0;
  for (int32_t w : x.window_q30) sum_abs += 32768.0 * std::ldexp(w, -15);
  x.window_shift = 0;
  while (2.0 * (sum_abs / std::ldexp(1.0, x.window_shift) + double(c.window_samples) + 4.0 * c.fft_size) >
         std::ldexp(1.0, 30))
    ++x.window_shift;

  // Powers: the Q15-weighted sum of a channel is at most 2^15 * sum_k |2X[k]|^2 / 2^power_shift, and by
  // Parseval sum_k |2X[k]|^2 <= 4 fft_size sum s^2; keep it below 2^62.
  double sum_squares = 0.0;
  for (int32_t w : x.window_q30) {
    const double s = 32768.0 * std::ldexp(w, -15 - x.window_shift) + 1.0;
    sum_squares += s * s;
  }
  x.power_shift = shift_to_fit(32768.0 * 4.0 * c.fft_size * sum_squares, std::ldexp(1.0, 62));
  // s = x * 2^(30 - window_shift) for the float sample x = pcm / 32768 * hann, so
  // |2X|^2 = 2^(62 - 2 window_shift) |X|^2, and the Q15 weights add 15 bits.
  x.mel_fraction_bits = 77 - 2 * x.window_shift - x.power_shift;
  if (x.mel_fraction_bits > 62) {  // more resolution than the kernel's log takes: shift it away
    x.power_shift += x.mel_fraction_bits - 62;
    x.mel_fraction_bits = 62;
  }
  if (x.mel_fraction_bits + c.log_floor_exponent < 0)
    fail("log_floor_exponent", "(" + std::to_string(c.log_floor_exponent) + ") is below the fixed-point resolution 2^-" +
                                   std::to_string(x.mel_fraction_bits) + " of this front-end's mel energies");
  x.mel_floor = uint64_t(1) << (x.mel_fraction_bits + c.log_floor_exponent);

  const int32_t half = c.fft_size / 2;
  x.twiddles_q30.resize(size_t(c.fft_size));
  for (int32_t k = 0; k < half; ++k) {
    const double angle = 2.0 * kPi * k / c.fft_size;
    x.twiddles_q30[2 * size_t(k)] = int32_t(std::lround(std::cos(angle) * 1073741824.0));
    x.twiddles_q30[2 * size_t(k) + 1] = int32_t(std::lround(std::sin(angle) * 1073741824.0));
  }
  for (int32_t m = 0; m < c.mel_channels; ++m) {
    x.mel_start.push_back(uint16_t(t.mel_start[size_t(m)]));
    x.mel_length.push_back(uint16_t(t.mel_weights[size_t(m)].size()));
    for (double w : t.mel_weights[size_t(m)]) x.mel_weights_q15.push_back(uint16_t(std::lround(w * 32768.0)));
  }
  x.dct_q30.resize(t.dct.size());
  for (size_t i = 0; i < t.dct.size(); ++i) x.dct_q30[i] = int32_t(std::lround(t.dct[i] * 1073741824.0));

  const AudioFeatureQuantization q = audio_feature_quantization(c);
  x.output = quantize_multiplier(1.0 / (q.scale * 1048576.0));
  x.output_zero_point = q.zero_point;
  return x;
}

tn_mfcc_params AudioFrontendFixed::params() const {
  tn_mfcc_params p{};
  p.clip_samples = config.clip_samples;
  p.window_samples = config.window_samples;
  p.stride_samples = config.stride_samples;
  p.fft_size = config.fft_size;
  p.mel_channels = config.mel_channels;
  p.coefficients = config.coefficients;
  p.window = window_q30.data();
  p.window_shift = window_shift;
  p.twiddles = twiddles_q30.data();
  p.power_shift = power_shift;
  p.mel_start = mel_start.data();
  p.mel_length = mel_length.data();
  p.mel_weights = mel_weights_q15.data();
  p.mel_floor = mel_floor;
  p.mel_fraction_bits = mel_fraction_bits;
  p.dct = dct_q30.data();
  p.output_multiplier = output.multiplier;
  p.output_shift = output.shift;
  p.output_zero_point = output_zero_point;
  return p;
}

int32_t AudioFrontendFixed::scratch_bytes() const { return tn_mfcc_scratch_bytes(config.fft_size, config.mel_channels); }

std::vector<int8_t> AudioFrontendFixed::features(const std::vector<int16_t>& pcm) const {
  if (int64_t(pcm.size()) != config.clip_samples)
    throw core::InputError("audio front-end: the clip has " + std::to_string(pcm.size()) + " samples, it takes " +
                           std::to_string(config.clip_samples));
  std::vector<int8_t> out(size_t(config.frames()) * size_t(config.coefficients));
  std::vector<int32_t> scratch(size_t(scratch_bytes() + 3) / 4);
  const tn_mfcc_params p = params();
  if (tn_mfcc_s8(&p, pcm.data(), out.data(), scratch.data()) != TN_OK)
    throw core::RuntimeFailure("audio front-end: the MFCC kernel rejected its parameters");
  return out;
}

const AudioFrontendFixed& default_audio_frontend_fixed() {
  static const AudioFrontendFixed fixed = [] {
    const AudioFrontendConfig config;
    return audio_frontend_fixed(config, audio_frontend_tables(config));
  }();
  return fixed;
}

int64_t AudioFrontendFixed::table_bytes() const {
  return int64_t(sizeof(int32_t)) * int64_t(window_q30.size() + twiddles_q30.size() + dct_q30.size()) +
         int64_t(sizeof(uint16_t)) * int64_t(mel_start.size() + mel_length.size() + mel_weights_q15.size());
}

std::string audio_frontend_c_source(const AudioFrontendFixed& x, const std::string& symbol) {
  const AudioFrontendConfig& c = x.config;
  std::ostringstream out;
  out << "/* MFCC front-end tables: " << c.sample_rate << " Hz, " << c.clip_samples << "-sample clip, "
      << c.window_samples << "-sample window every " << c.stride_samples << " samples, FFT " << c.fft_size << ", "
      << c.mel_channels << " mel channels (" << c.mel_lower_hz << " to " << c.mel_upper_hz << " Hz), "
      << c.coefficients << " coefficients, floor 2^" << c.log_floor_exponent << ". */\n"
      << "#include <stdint.h>\n\n#include \"tn_kernels.h\"\n\n";
  c_array(out, "int32_t", symbol + "_window", x.window_q30);
  c_array(out, "int32_t", symbol + "_twiddles", x.twiddles_q30);
  c_array(out, "uint16_t", symbol + "_mel_start", x.mel_start);
  c_array(out, "uint16_t", symbol + "_mel_length", x.mel_length);
  c_array(out, "uint16_t", symbol + "_mel_weights", x.mel_weights_q15);
  c_array(out, "int32_t", symbol + "_dct", x.dct_q30);
  out << "const tn_mfcc_params " << symbol << " = {\n"
      << "    .clip_samples = " << c.clip_samples << ",\n"
      << "    .window_samples = " << c.window_samples << ",\n"
      << "    .stride_samples = " << c.stride_samples << ",\n"
      << "    .fft_size = " << c.fft_size << ",\n"
      << "    .mel_channels = " << c.mel_channels << ",\n"
      << "    .coefficients = " << c.coefficients << ",\n"
      << "    .window = " << symbol << "_window,\n"
      << "    .window_shift = " << x.window_shift << ",\n"
      << "    .twiddles = " << symbol << "_twiddles,\n"
      << "    .power_shift = " << x.power_shift << ",\n"
      << "    .mel_start = " << symbol << "_mel_start,\n"
      << "    .mel_length = " << symbol << "_mel_length,\n"
      << "    .mel_weights = " << symbol << "_mel_weights,\n"
      << "    .mel_floor = " << x.mel_floor << "u,\n"
      << "    .mel_fraction_bits = " << x.mel_fraction_bits << ",\n"
      << "    .dct = " << symbol << "_dct,\n"
      << "    .output_multiplier = " << x.output.multiplier << ",\n"
      << "    .output_shift = " << x.output.shift << ",\n"
      << "    .output_zero_point = " << x.output_zero_point << ",\n"
      << "};\n";
  return out.str();
}

}  // namespace tinynas::engine
