// The keyword-spotting front-end (engine/audio_frontend.h, kernels/tn_audio.c): the float features
// against an independent double-precision reference (direct DFT, its own window, filterbank and DCT),
// properties one can check by hand, the fixed-point kernel against the float features, its scratch,
// and the kernel on the emulated Cortex-M4 against the host build, byte for byte.
//
// Measured with the default config (16 kHz, 1 s, 30/20 ms, FFT 512, 40 mel channels, 10 MFCCs):
//  - float features vs the double reference: max |error| 7.2e-4 in MFCC, 1.9e-3 in log mel (full-scale
//    tones and chirps, from kissfft's single precision in channels far below the frame's peak); about
//    1e-6 to 1e-5 on noise and silence;
//  - fixed point vs float: max |error| 1.9e-4 in feature units (speech-like clips from 40 LSB peaks to
//    clipped, noise, a quiet chirp, silence), and vs the double reference the same; after int8
//    quantization (scale 0.627) all 4900 values equal the quantized float features;
//  - the integer log2: from 4.4e-5 below to 3e-8 above the exact value;
//  - mps2-an386 (Cortex-M4, QEMU): 3.55 million instructions per 1 s clip (72 thousand per frame),
//    stack 456 bytes, scratch 2208 bytes (tn_mfcc_scratch_bytes(512, 40)), tables 6222 bytes of Flash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "guarded_scratch.h"
#include "test_helpers.h"
#include "tinynas/core/errors.h"
#include "tinynas/core/process.h"
#include "tinynas/engine/audio_frontend.h"
#include "tinynas/engine/toolchain.h"
#include "tn_kernels.h"
#include "tn_scratch.h"

using namespace tinynas;
using namespace tinynas::engine;
using tinynas_test::input_error_message;
using tinynas_test::TempDir;

namespace {

namespace fs = std::filesystem;

constexpr double kPi = 3.14159265358979323846;

// ---- signals -----------------------------------------------------------------------------------

std::vector<int16_t> to_pcm(const std::vector<double>& x) {
  std::vector<int16_t> pcm(x.size());
  for (size_t i = 0; i < x.size(); ++i) pcm[i] = int16_t(std::clamp(std::lround(x[i]), -32768L, 32767L));
  return pcm;
}

std::vector<int16_t> sine(double hz, double amplitude, int samples = 16000, int rate = 16000) {
  std::vector<double> x(static_cast<size_t>(samples));
  for (int n = 0; n < samples; ++n) x[size_t(n)] = amplitude * std::sin(2.0 * kPi * hz * n / rate + 0.3);
  return to_pcm(x);
}

// Linear chirp from f0 to f1 over the clip.
std::vector<int16_t> chirp(double f0, double f1, double amplitude, int samples = 16000, int rate = 16000) {
  std::vector<double> x(static_cast<size_t>(samples));
  const double duration = double(samples) / rate;
  for (int n = 0; n < samples; ++n) {
    const double t = double(n) / rate;
    x[size_t(n)] = amplitude * std::sin(2.0 * kPi * (f0 * t + (f1 - f0) * t * t / (2.0 * duration)));
  }
  return to_pcm(x);
}

std::vector<int16_t> noise(double rms, uint32_t seed, int samples = 16000) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, rms);
  std::vector<double> x(static_cast<size_t>(samples));
  for (auto& v : x) v = d(rng);
  return to_pcm(x);
}

// Voiced syllables: a gliding pitch with harmonics up to 4 kHz shaped by three formants, under an
// attack-decay envelope with silence between the syllables, plus white noise; scaled so that the
// voiced part peaks at `peak` (beyond 32767 it clips).
std::vector<int16_t> speech_like(double peak, double noise_rms, uint32_t seed) {
  constexpr int kSamples = 16000, kRate = 16000;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> voiced(kSamples, 0.0);
  const double syllable_start[3] = {0.08, 0.38, 0.66}, syllable_length[3] = {0.22, 0.2, 0.26};
  for (int s = 0; s < 3; ++s) {
    const double f0_start = 100.0 + 80.0 * u(rng), f0_end = 90.0 + 100.0 * u(rng);
    const double formants[3] = {500.0 + 400.0 * u(rng), 1000.0 + 800.0 * u(rng), 2200.0 + 900.0 * u(rng)};
    const int begin = int(syllable_start[s] * kRate), length = int(syllable_length[s] * kRate);
    double phase = 0.0;
    for (int n = 0; n < length; ++n) {
      const double t = double(n) / length;
      const double f0 = f0_start + (f0_end - f0_start) * t;
      phase += 2.0 * kPi * f0 / kRate;
      const double envelope = std::min(1.0, t / 0.1) * std::exp(-3.0 * t);
      double v = 0.0;
      for (int h = 1; h * f0 < 4000.0; ++h) {
        double gain = 0.0;
        for (double formant : formants) gain += 1.0 / (1.0 + std::pow((h * f0 - formant) / 150.0, 2.0));
        v += gain / std::sqrt(double(h)) * std::sin(h * phase);
      }
      voiced[size_t(begin + n)] = envelope * v;
    }
  }
  const double max_abs = *std::max_element(voiced.begin(), voiced.end(),
                                           [](double a, double b) { return std::abs(a) < std::abs(b); });
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<double> x(kSamples);
  for (int n = 0; n < kSamples; ++n)
    x[size_t(n)] = voiced[size_t(n)] * peak / std::abs(max_abs) + (noise_rms > 0.0 ? noise_rms * d(rng) : 0.0);
  return to_pcm(x);
}

// ---- the independent reference: a direct DFT in double -----------------------------------------

double mel_of(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }

// Log mel energies [frames][channels] and MFCCs [frames][coefficients] of one clip, from the config
// alone: periodic Hann, O(N^2) DFT, HTK triangles in mel, ln with the floor, orthonormal DCT-II.
struct Reference {
  std::vector<double> log_mel, mfcc;
};

Reference reference_features(const AudioFrontendConfig& c, const std::vector<int16_t>& pcm) {
  const int N = c.fft_size, W = c.window_samples, M = c.mel_channels, bins = N / 2 + 1;
  const int frames = 1 + (c.clip_samples - W) / c.stride_samples;
  std::vector<std::complex<double>> roots(static_cast<size_t>(N));
  for (int i = 0; i < N; ++i) roots[size_t(i)] = std::polar(1.0, -2.0 * kPi * i / N);
  const double mel_low = mel_of(c.mel_lower_hz), mel_high = mel_of(c.mel_upper_hz);
  const double spacing = (mel_high - mel_low) / (M + 1);
  Reference r;
  std::vector<double> x(static_cast<size_t>(W)), power(static_cast<size_t>(bins));
  for (int f = 0; f < frames; ++f) {
    for (int n = 0; n < W; ++n)
      x[size_t(n)] = pcm[size_t(f * c.stride_samples + n)] / 32768.0 * (0.5 - 0.5 * std::cos(2.0 * kPi * n / W));
    for (int k = 0; k < bins; ++k) {
      std::complex<double> acc = 0.0;
      for (int n = 0; n < W; ++n) acc += x[size_t(n)] * roots[size_t((n * k) % N)];
      power[size_t(k)] = std::norm(acc);
    }
    std::vector<double> log_mel(static_cast<size_t>(M));
    for (int m = 0; m < M; ++m) {
      const double left = mel_low + m * spacing, center = left + spacing, right = center + spacing;
      double energy = 0.0;
      for (int k = 0; k < bins; ++k) {
        const double mel = mel_of(k * double(c.sample_rate) / N);
        if (mel > left && mel < center) energy += (mel - left) / spacing * power[size_t(k)];
        if (mel >= center && mel < right) energy += (right - mel) / spacing * power[size_t(k)];
      }
      log_mel[size_t(m)] = std::log(std::max(energy, std::pow(2.0, c.log_floor_exponent)));
    }
    r.log_mel.insert(r.log_mel.end(), log_mel.begin(), log_mel.end());
    for (int k = 0; k < c.coefficients; ++k) {
      double acc = 0.0;
      for (int m = 0; m < M; ++m) acc += log_mel[size_t(m)] * std::cos(kPi * k * (2 * m + 1) / (2.0 * M));
      r.mfcc.push_back(acc * std::sqrt((k == 0 ? 1.0 : 2.0) / M));
    }
  }
  return r;
}

template <typename A, typename B>
double max_abs_difference(const std::vector<A>& a, const std::vector<B>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
  return worst;
}

// ---- the kernel ---------------------------------------------------------------------------------

using Scratch = tinynas_test::GuardedScratch;

struct FrontendUnderTest {
  AudioFrontendConfig config;
  AudioFrontendTables tables;
  AudioFrontendFixed fixed;
  explicit FrontendUnderTest(const AudioFrontendConfig& c = {})
      : config(c), tables(audio_frontend_tables(c)), fixed(audio_frontend_fixed(c, tables)) {}
  size_t outputs() const { return size_t(config.frames()) * size_t(config.coefficients); }

  std::vector<int8_t> kernel_s8(const std::vector<int16_t>& pcm) const {
    Scratch scratch(fixed.scratch_bytes());
    std::vector<int8_t> out(outputs());
    const tn_mfcc_params p = fixed.params();
    EXPECT_EQ(tn_mfcc_s8(&p, pcm.data(), out.data(), scratch.get<int32_t>()), TN_OK);
    EXPECT_TRUE(scratch.guard_intact());
    return out;
  }
  std::vector<double> kernel_features(const std::vector<int16_t>& pcm) const {
    Scratch scratch(fixed.scratch_bytes());
    std::vector<int32_t> q20(outputs());
    const tn_mfcc_params p = fixed.params();
    EXPECT_EQ(tn_mfcc_q20(&p, pcm.data(), q20.data(), scratch.get<int32_t>()), TN_OK);
    EXPECT_TRUE(scratch.guard_intact());
    std::vector<double> out(q20.size());
    for (size_t i = 0; i < q20.size(); ++i) out[i] = q20[i] / 1048576.0;
    return out;
  }
};

}  // namespace

// ---- the definition ------------------------------------------------------------------------------

TEST(AudioFrontend, DefaultsAreTheKwsRecipe) {
  const AudioFrontendConfig c;
  EXPECT_EQ(c.frames(), 49);
  const AudioFrontendTables t = audio_frontend_tables(c);
  ASSERT_EQ(t.window.size(), 480u);
  EXPECT_DOUBLE_EQ(t.window[0], 0.0);  // periodic Hann: zero at the start only, one in the middle
  EXPECT_DOUBLE_EQ(t.window[240], 1.0);
  EXPECT_NEAR(t.window[1], t.window[479], 1e-15);
  ASSERT_EQ(t.mel_start.size(), 40u);
  ASSERT_EQ(t.mel_weights.size(), 40u);
  // 20 Hz to 4 kHz in 31.25 Hz bins: the first channel starts at bin 1, the last ends below bin 128.
  EXPECT_EQ(t.mel_start.front(), 1);
  EXPECT_LE(t.mel_start.back() + int32_t(t.mel_weights.back().size()), 128);
  for (const auto& w : t.mel_weights)
    for (double v : w) EXPECT_TRUE(v > 0.0 && v <= 1.0) << v;
  // Orthonormal DCT rows.
  ASSERT_EQ(t.dct.size(), 400u);
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b) {
      double dot = 0.0;
      for (int m = 0; m < 40; ++m) dot += t.dct[size_t(a * 40 + m)] * t.dct[size_t(b * 40 + m)];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-12) << a << "," << b;
    }
}

TEST(AudioFrontend, FloatFeaturesMatchADirectDft) {
  const AudioFrontendConfig c;
  const AudioFrontendTables t = audio_frontend_tables(c);
  const std::map<std::string, std::vector<int16_t>> signals = {
      {"sine 1 kHz", sine(1000.0, 12000.0)},
      {"sine 440 Hz full scale", sine(440.0, 32767.0)},
      {"chirp", chirp(50.0, 7000.0, 20000.0)},
      {"noise", noise(3000.0, 1)},
      {"quiet noise", noise(2.0, 2)},
      {"silence", std::vector<int16_t>(16000, 0)},
  };
  for (const auto& [name, pcm] : signals) {
    const Reference r = reference_features(c, pcm);
    const double log_mel_error = max_abs_difference(audio_log_mel(c, t, pcm), r.log_mel);
    const double mfcc_error = max_abs_difference(audio_features(c, t, pcm), r.mfcc);
    // kissfft's single precision shows in channels far below the frame's peak (full-scale tones).
    EXPECT_LT(log_mel_error, 3e-3) << name;
    EXPECT_LT(mfcc_error, 1.5e-3) << name;
    std::printf("[ float vs DFT ] %-24s log mel %.2e, mfcc %.2e\n", name.c_str(), log_mel_error, mfcc_error);
  }
}

TEST(AudioFrontend, SineLandsInTheMelChannelOfItsFrequency) {
  const AudioFrontendConfig c;
  const AudioFrontendTables t = audio_frontend_tables(c);
  // 1 kHz is 1000 mel (HTK); the channels' peaks are (2146.1 - 31.7) / 41 = 51.57 mel apart from
  // 31.7 mel, so the peak nearest 1 kHz, 1012 mel, is that of channel 18 (bin 32 is exactly 1 kHz).
  const double spacing = (mel_of(4000.0) - mel_of(20.0)) / 41.0;
  const int channel = int(std::lround((mel_of(1000.0) - mel_of(20.0)) / spacing)) - 1;
  ASSERT_EQ(channel, 18);
  const std::vector<float> log_mel = audio_log_mel(c, t, sine(1000.0, 10000.0));
  for (int f = 0; f < 49; ++f) {
    const auto row = log_mel.begin() + f * 40;
    EXPECT_EQ(std::max_element(row, row + 40) - row, channel) << "frame " << f;
    // Two channels away the Hann leakage is more than 40 dB (ln 10^4 = 9.2) down.
    EXPECT_GT(row[channel] - row[channel - 2], 9.2);
    EXPECT_GT(row[channel] - row[channel + 2], 9.2);
  }
}

TEST(AudioFrontend, SilenceGivesTheFloor) {
  const AudioFrontendConfig c;
  const FrontendUnderTest fe(c);
  const std::vector<int16_t> silence(16000, 0);
  const double floor = -20.0 * std::log(2.0);
  for (float v : audio_log_mel(c, fe.tables, silence)) EXPECT_FLOAT_EQ(v, float(floor));
  const std::vector<float> features = audio_features(c, fe.tables, silence);
  const std::vector<double> fixed = fe.kernel_features(silence);
  const AudioFeatureQuantization q = audio_feature_quantization(c);
  const std::vector<int8_t> quantized = quantize_audio_features(q, features);
  const std::vector<int8_t> kernel = fe.kernel_s8(silence);
  for (size_t i = 0; i < features.size(); ++i) {
    const bool c0 = i % 10 == 0;
    EXPECT_NEAR(features[i], c0 ? std::sqrt(40.0) * floor : 0.0, 1e-5) << i;
    EXPECT_NEAR(fixed[i], features[i], 1e-4) << i;
    // The floor is the bottom of the int8 range.
    EXPECT_EQ(quantized[i], c0 ? -128 : q.zero_point) << i;
    EXPECT_EQ(kernel[i], quantized[i]) << i;
  }
}

TEST(AudioFrontend, QuantizationCoversEveryClip) {
  const AudioFrontendConfig c;
  const AudioFeatureQuantization q = audio_feature_quantization(c);
  // sqrt(40) ln 2^-20 and sqrt(40) ln(512 * 180): 180 is the sum of the squared Hann window.
  EXPECT_NEAR(q.min, std::sqrt(40.0) * -20.0 * std::log(2.0), 1e-9);
  EXPECT_NEAR(q.max, std::sqrt(40.0) * std::log(512.0 * 180.0), 1e-9);
  EXPECT_NEAR(q.scale, 0.62736, 1e-5);
  EXPECT_EQ(q.zero_point, 12);
  // The loudest clips stay inside the range: full-scale square waves and full-scale noise.
  const AudioFrontendTables t = audio_frontend_tables(c);
  std::vector<int16_t> square(16000);
  for (size_t n = 0; n < square.size(); ++n) square[n] = (n / 8) % 2 ? 32767 : -32768;
  for (const auto& pcm : {square, noise(40000.0, 3)}) {
    for (float v : audio_features(c, t, pcm)) {
      EXPECT_LE(v, q.max);
      EXPECT_GE(v, q.min);
    }
  }
  EXPECT_EQ(quantize_audio_features(q, {float(q.min), float(q.max), 0.0f, float(q.scale)}),
            (std::vector<int8_t>{-128, 127, int8_t(q.zero_point), int8_t(q.zero_point + 1)}));
}

TEST(AudioFrontend, InvalidConfigsNameTheField) {
  const auto message = [](auto change) {
    AudioFrontendConfig c;
    change(c);
    return input_error_message([&] { audio_frontend_tables(c); });
  };
  struct Case {
    std::string field;
    std::string message;
  };
  const Case cases[] = {
      {"window_samples", message([](auto& c) { c.window_samples = 16001; })},
      {"clip_samples", message([](auto& c) { c.clip_samples = 0; })},
      {"stride_samples", message([](auto& c) { c.stride_samples = 0; })},
      {"mel_upper_hz", message([](auto& c) { c.mel_upper_hz = 8001.0; })},
      {"mel_upper_hz", message([](auto& c) { c.mel_upper_hz = 10.0; })},
      {"mel_lower_hz", message([](auto& c) { c.mel_lower_hz = -1.0; })},
      {"coefficients", message([](auto& c) { c.coefficients = 41; })},
      {"fft_size", message([](auto& c) { c.fft_size = 500; })},
      {"fft_size", message([](auto& c) { c.fft_size = 256; })},
      {"mel_channels", message([](auto& c) { c.mel_channels = 128; })},  // the lowest channels hold no bin
      {"log_floor_exponent", message([](auto& c) { c.log_floor_exponent = 0; })},
      {"log_floor_exponent", message([](auto& c) { c.log_floor_exponent = -41; })},
  };
  for (const Case& k : cases) EXPECT_NE(k.message.find(k.field), std::string::npos) << k.field << ": " << k.message;
  EXPECT_NE(message([](auto& c) { c.fft_size = 256; }).find("window_samples"), std::string::npos);

  const AudioFrontendConfig c;
  const AudioFrontendTables t = audio_frontend_tables(c);
  const std::string wrong_length = input_error_message([&] { audio_features(c, t, std::vector<int16_t>(15999)); });
  EXPECT_NE(wrong_length.find("15999"), std::string::npos) << wrong_length;
}

// ---- the fixed-point kernel ------------------------------------------------------------------------

TEST(AudioFrontendKernel, Log2ErrorIsWithinItsBound) {
  EXPECT_EQ(tn_audio_log2_q24(1), 0);
  EXPECT_EQ(tn_audio_log2_q24(uint64_t(1) << 46), 46 << 24);
  std::mt19937_64 rng(7);
  double below = 0.0, above = 0.0;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = (rng() >> (rng() % 64)) | 1u;
    const double error = tn_audio_log2_q24(v) / 16777216.0 - std::log2(double(v));
    below = std::max(below, -error);
    above = std::max(above, error);
  }
  EXPECT_LE(below, 4.6e-5);  // tn_kernels.h
  EXPECT_LE(above, 1e-7);
  std::printf("[ log2 ] error from -%.2e to +%.2e\n", below, above);
}

TEST(AudioFrontendKernel, FixedPointMatchesFloat) {
  const AudioFrontendConfig c;
  const FrontendUnderTest fe(c);
  const AudioFeatureQuantization q = audio_feature_quantization(c);
  const std::map<std::string, std::vector<int16_t>> signals = {
      {"speech full scale", speech_like(32000.0, 30.0, 11)},
      {"speech clipped", speech_like(60000.0, 100.0, 12)},
      {"speech medium", speech_like(6000.0, 0.0, 13)},
      {"speech quiet", speech_like(300.0, 3.0, 14)},
      {"speech very quiet", speech_like(40.0, 1.0, 15)},
      {"speech in noise", speech_like(8000.0, 2000.0, 16)},
      {"noise loud", noise(12000.0, 17)},
      {"noise soft", noise(8.0, 18)},
      {"chirp quiet", chirp(100.0, 7900.0, 100.0)},
      {"silence", std::vector<int16_t>(16000, 0)},
  };
  size_t values = 0, equal = 0, within_one = 0;
  double worst = 0.0;
  for (const auto& [name, pcm] : signals) {
    const std::vector<float> reference = audio_features(c, fe.tables, pcm);
    const std::vector<double> fixed = fe.kernel_features(pcm);
    const double error = max_abs_difference(fixed, reference);
    worst = std::max(worst, error);
    EXPECT_LT(error, 1e-3) << name;
    // And against the double-precision DFT.
    const double exact_error = max_abs_difference(fixed, reference_features(c, pcm).mfcc);
    EXPECT_LT(exact_error, 1e-3) << name;
    const std::vector<int8_t> expected = quantize_audio_features(q, reference);
    const std::vector<int8_t> kernel = fe.kernel_s8(pcm);
    size_t signal_equal = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const int lsb = std::abs(int(kernel[i]) - int(expected[i]));
      signal_equal += lsb == 0;
      within_one += lsb <= 1;
    }
    values += expected.size();
    equal += signal_equal;
    std::printf("[ fixed point ] %-18s max error %.2e vs float, %.2e vs double DFT; int8 equal %zu / %zu\n",
                name.c_str(), error, exact_error, signal_equal, expected.size());
  }
  EXPECT_EQ(within_one, values);
  EXPECT_GE(double(equal) / double(values), 0.99);
  std::printf("[ fixed point ] max %.2e feature units, int8: %.2f %% equal, %.2f %% within 1 LSB\n", worst,
              100.0 * double(equal) / double(values), 100.0 * double(within_one) / double(values));
}

TEST(AudioFrontendKernel, StaysInsideItsScratch) {
  const FrontendUnderTest fe;
  EXPECT_EQ(fe.fixed.scratch_bytes(), 2208);
  EXPECT_EQ(tn_mfcc_scratch_bytes(512, 40), (512 + 40) * 4);
  // Also a front-end with an odd window and a larger FFT.
  AudioFrontendConfig other;
  other.clip_samples = 8000;
  other.window_samples = 401;
  other.stride_samples = 160;
  other.fft_size = 1024;
  other.mel_channels = 32;
  other.coefficients = 13;
  const FrontendUnderTest fe_other(other);
  for (const FrontendUnderTest* f : {&fe, &fe_other}) {
    const std::vector<int16_t> pcm = noise(5000.0, 21, f->config.clip_samples);
    // kernel_s8 / kernel_features check the guard bytes.
    const std::vector<double> fixed = f->kernel_features(pcm);
    EXPECT_LT(max_abs_difference(fixed, audio_features(f->config, f->tables, pcm)), 5e-3);
    f->kernel_s8(pcm);
  }
}

// The host's way to the firmware's features (tinynas run on WAV clips): the kernel's output, and an
// error for a clip of another length.
TEST(AudioFrontendKernel, FeaturesOfAClipAreTheKernels) {
  const FrontendUnderTest fe;
  const std::vector<int16_t> pcm = noise(3000.0, 5, fe.config.clip_samples);
  EXPECT_EQ(fe.fixed.features(pcm), fe.kernel_s8(pcm));
  EXPECT_EQ(default_audio_frontend_fixed().features(pcm), fe.kernel_s8(pcm));
  EXPECT_THROW(fe.fixed.features(std::vector<int16_t>(8000, 0)), core::InputError);
}

TEST(AudioFrontendKernel, RejectsParametersItCannotRun) {
  const FrontendUnderTest fe;
  const std::vector<int16_t> pcm(16000, 0);
  std::vector<int8_t> out(490);
  Scratch scratch(fe.fixed.scratch_bytes());
  const auto status = [&](auto change) {
    tn_mfcc_params p = fe.fixed.params();
    change(p);
    return tn_mfcc_s8(&p, pcm.data(), out.data(), scratch.get<int32_t>());
  };
  EXPECT_EQ(status([](tn_mfcc_params&) {}), TN_OK);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.fft_size = 500; }), TN_ERROR_ARGUMENT);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.window_samples = 513; }), TN_ERROR_ARGUMENT);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.clip_samples = 479; }), TN_ERROR_ARGUMENT);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.coefficients = 41; }), TN_ERROR_ARGUMENT);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.mel_floor = 0; }), TN_ERROR_ARGUMENT);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.window = nullptr; }), TN_ERROR_ARGUMENT);
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.output_shift = 1; }), TN_ERROR_ARGUMENT);
  static const uint16_t past_the_spectrum[40] = {256};  // channel 0 would reach bin 250 + its length
  EXPECT_EQ(status([](tn_mfcc_params& p) { p.mel_start = past_the_spectrum; }), TN_ERROR_ARGUMENT);
  const tn_mfcc_params p = fe.fixed.params();
  EXPECT_EQ(tn_mfcc_s8(&p, pcm.data(), out.data(), nullptr), TN_ERROR_ARGUMENT);
}

// ---- the firmware: the same kernel on the emulated Cortex-M4 -----------------------------------------

namespace {

// One line per frame: "s8_FF=" and the int8 features as two hex digits each, "q20_FF=" and the Q20
// features as eight.
const char* const kAudioMain = R"(#include <stdint.h>
#include <stdio.h>
#include "tn_board.h"
#include "tn_kernels.h"
#include "tn_scratch.h"
#include "audio_config.h"

extern const tn_mfcc_params audio_frontend;
extern const int16_t test_clip[];

static int32_t scratch[SCRATCH_BYTES / 4];
static int8_t features[FRAMES * COEFFICIENTS];
static int32_t features_q20[FRAMES * COEFFICIENTS];

static void print_frames(void) {
  static const char digits[] = "0123456789abcdef";
  char line[8 * COEFFICIENTS + 1];
  int32_t f, c, d;
  for (f = 0; f < FRAMES; ++f) {
    for (c = 0; c < COEFFICIENTS; ++c) {
      const uint32_t v = (uint8_t)features[f * COEFFICIENTS + c];
      line[2 * c] = digits[v >> 4];
      line[2 * c + 1] = digits[v & 15u];
    }
    line[2 * COEFFICIENTS] = 0;
    printf("s8_%02ld=%s\n", (long)f, line);
    for (c = 0; c < COEFFICIENTS; ++c) {
      const uint32_t v = (uint32_t)features_q20[f * COEFFICIENTS + c];
      for (d = 0; d < 8; ++d) line[8 * c + d] = digits[(v >> (28 - 4 * d)) & 15u];
    }
    line[8 * COEFFICIENTS] = 0;
    printf("q20_%02ld=%s\n", (long)f, line);
  }
}

int main(void) {
  tn_board_init();
  if (tn_mfcc_scratch_bytes(audio_frontend.fft_size, audio_frontend.mel_channels) != SCRATCH_BYTES) return 2;
  const uint32_t t0 = tn_board_counter();
  const tn_status status = tn_mfcc_s8(&audio_frontend, test_clip, features, scratch);
  const uint32_t t1 = tn_board_counter();
  const tn_status status_q20 = tn_mfcc_q20(&audio_frontend, test_clip, features_q20, scratch);
  printf("status=%d,%d\n", (int)status, (int)status_q20);
  printf("instructions=%llu\n", (unsigned long long)tn_board_elapsed_instructions(t0, t1));
  printf("stack=%lu\n", (unsigned long)tn_board_stack_peak_bytes());
  print_frames();
  return 0;
}
)";

std::string hex_line(const uint8_t* bytes, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[bytes[i] >> 4];
    s += digits[bytes[i] & 15];
  }
  return s;
}

std::map<std::string, std::string> key_values(const std::string& output) {
  std::map<std::string, std::string> values;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

// A bundle with the board support, the front-end kernel and headers, the tables and a clip.
void make_audio_bundle(const TempDir& dir, const FrontendUnderTest& fe, const std::vector<int16_t>& clip) {
  copy_board_support(dir.path.string());
  fs::create_directories(dir.path / "kernels");
  const fs::path kernels = fs::path(TINYNAS_SOURCE_DIR) / "engine" / "kernels";
  for (const char* name : {"tn_audio.c", "tn_kernels.h", "tn_scratch.h", "tn_arith.h"})
    fs::copy_file(kernels / name, dir.path / "kernels" / name);
  dir.write("audio_tables.c", audio_frontend_c_source(fe.fixed, "audio_frontend"));
  std::ostringstream clip_c;
  clip_c << "#include <stdint.h>\nextern const int16_t test_clip[];\nconst int16_t test_clip[" << clip.size() << "] = {";
  for (size_t i = 0; i < clip.size(); ++i) clip_c << (i % 16 ? " " : "\n    ") << clip[i] << ",";
  clip_c << "\n};\n";
  dir.write("test_clip.c", clip_c.str());
  std::ostringstream config_h;
  config_h << "#define FRAMES " << fe.config.frames() << "\n#define COEFFICIENTS " << fe.config.coefficients
           << "\n#define SCRATCH_BYTES " << fe.fixed.scratch_bytes() << "\n";
  dir.write("audio_config.h", config_h.str());
  dir.write("main.c", kAudioMain);
}

// The host kernel's lines, as the firmware prints them.
std::map<std::string, std::string> expected_lines(const FrontendUnderTest& fe, const std::vector<int16_t>& clip) {
  const std::vector<int8_t> s8 = fe.kernel_s8(clip);
  Scratch scratch(fe.fixed.scratch_bytes());
  std::vector<int32_t> q20(fe.outputs());
  const tn_mfcc_params p = fe.fixed.params();
  EXPECT_EQ(tn_mfcc_q20(&p, clip.data(), q20.data(), scratch.get<int32_t>()), TN_OK);
  std::map<std::string, std::string> lines;
  const size_t n = size_t(fe.config.coefficients);
  for (int f = 0; f < fe.config.frames(); ++f) {
    char key[16];
    std::snprintf(key, sizeof key, "%02d", f);
    lines[std::string("s8_") + key] = hex_line(reinterpret_cast<const uint8_t*>(&s8[size_t(f) * n]), n);
    std::string words;
    for (size_t c = 0; c < n; ++c) {
      const uint32_t v = uint32_t(q20[size_t(f) * n + c]);
      const uint8_t big_endian[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
      words += hex_line(big_endian, 4);
    }
    lines[std::string("q20_") + key] = words;
  }
  return lines;
}

void expect_same_features(const std::map<std::string, std::string>& expected, std::map<std::string, std::string> got) {
  for (const auto& [key, value] : expected) EXPECT_EQ(got[key], value) << key;
}

}  // namespace

// The generated tables and the kernel build warning-free with the host cc as a C99 program too.
TEST(AudioFrontendFirmware, HostBuildMatchesTheLinkedKernel) {
  const FrontendUnderTest fe;
  const std::vector<int16_t> clip = speech_like(20000.0, 20.0, 31);
  TempDir dir;
  make_audio_bundle(dir, fe, clip);
  const BuildResult build = build_bundle(dir.path.string(), board_by_name("host"));
  ASSERT_TRUE(build.ok) << build.log;
  EXPECT_EQ(build.log.find("warning"), std::string::npos) << build.log;
  const RunResult run = run_host(build.elf, 60.0);
  ASSERT_TRUE(run.ok) << run.output << run.errors;
  const auto values = key_values(run.output);
  EXPECT_EQ(values.at("status"), "0,0");
  expect_same_features(expected_lines(fe, clip), values);
}

TEST(AudioFrontendFirmware, CortexM4FeaturesAreBitIdenticalToTheHost) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  if (!qemu_available()) GTEST_SKIP() << "qemu-system-arm is not installed";
  const FrontendUnderTest fe;
  const std::vector<int16_t> clip = speech_like(20000.0, 20.0, 31);
  const Board& board = board_by_name("mps2-an386");
  TempDir dir;
  make_audio_bundle(dir, fe, clip);
  const BuildResult build = build_bundle(dir.path.string(), board);
  ASSERT_TRUE(build.ok) << build.log;
  EXPECT_EQ(build.log.find("warning"), std::string::npos) << build.log;
  const RunResult run = run_in_qemu(build.elf, board, 120.0);
  ASSERT_TRUE(run.ok) << "exit " << run.exit_code << "\n" << run.output << run.errors;
  const auto values = key_values(run.output);
  EXPECT_EQ(values.at("status"), "0,0");
  expect_same_features(expected_lines(fe, clip), values);
  const uint64_t instructions = std::stoull(values.at("instructions"));
  EXPECT_GT(instructions, 500000u);
  EXPECT_LT(instructions, 8000000u);  // 3.55 million (see the top of the file)
  EXPECT_LT(std::stoul(values.at("stack")), 512u);
  std::printf("[ mps2-an386 ] %llu instructions per 1 s clip, stack %s bytes, scratch %d bytes, tables %lld bytes\n",
              (unsigned long long)instructions, values.at("stack").c_str(), fe.fixed.scratch_bytes(),
              (long long)fe.fixed.table_bytes());
}

// The kernel compiled for a Cortex-M4 without an FPU needs nothing from a library: no soft-float or
// 64-bit division helpers, no memcpy.
TEST(AudioFrontendFirmware, KernelNeedsNoFloatingPointOrLibraryCalls) {
  if (!arm_toolchain_available()) GTEST_SKIP() << "arm-none-eabi-gcc is not installed";
  TempDir dir;
  const std::string source = std::string(TINYNAS_SOURCE_DIR) + "/engine/kernels/tn_audio.c";
  const std::string object = (dir.path / "tn_audio.o").string();
  const core::ProcessResult compile = core::run_process(
      {"arm-none-eabi-gcc", "-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-mcpu=cortex-m4", "-mthumb",
       "-mfloat-abi=soft", "-c", source, "-o", object},
      {60.0, true, ""});
  ASSERT_TRUE(compile.ok()) << compile.out;
  const core::ProcessResult nm = core::run_process({"arm-none-eabi-nm", "-u", object}, {60.0, true, ""});
  ASSERT_TRUE(nm.ok()) << nm.out;
  EXPECT_EQ(nm.out, "") << "undefined symbols:\n" << nm.out;
}
