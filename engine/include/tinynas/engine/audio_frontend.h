#pragma once
// The audio front-end of keyword spotting: MFCC features of a 1 s int16 clip, defined once here and
// implemented twice, in float on the host (training features) and in fixed point on the MCU
// (tn_mfcc_s8 of tn_kernels.h), both from the tables of audio_frontend_tables().
//
// The recipe is the standard KWS one (ARM ML-KWS, MLPerf Tiny's DS-CNN): per frame of 30 ms (480
// samples at 16 kHz) every 20 ms, 49 frames per 1000 ms clip,
//   x[n]     = pcm[n] / 32768 * hann[n]        periodic Hann, zero-padded to the FFT size (512)
//   P[k]     = |FFT(x)[k]|^2, k = 0..fft/2     power spectrum, no normalisation
//   mel[m]   = sum_k W[m][k] P[k]              40 triangular filters, 20 Hz to 4 kHz, equally spaced on
//                                              the HTK mel scale 2595 log10(1 + f / 700), triangles in mel
//   log[m]   = ln(max(mel[m], 2^log_floor_exponent))
//   mfcc[c]  = sum_m D[c][m] log[m]            DCT-II with orthonormal scaling, the first 10 kept
// The features are [frames][coefficients] (frame-major), the network's H x W x 1 input.
//
// The floor is a power of two, 2^-20 (ln = -13.86) by default, so that the fixed-point path represents
// it exactly. Per FFT bin, white noise of 3 LSB rms (-81 dBFS) reaches it, the rounding noise of
// 16-bit audio alone gives about 2^-26, background noise at -60 dBFS about 2^-12. Digital silence
// gives exactly the floor.
//
// The int8 features use one scale and zero point derived from the config (audio_feature_quantization):
// the range of mfcc[0], the widest coefficient, from the floor (all channels at the floor) up to
// sqrt(mel_channels) * ln(fft_size * sum hann^2), the largest mel energy any int16 clip can reach
// (Parseval with |x| <= 1). Defaults: [-87.68, 72.30], scale 0.6274, zero point 12. The other
// coefficients lie within +-72 by the same bounds. A network trained on host features quantized by
// quantize_audio_features() sees what the MCU computes.
#include <cstdint>
#include <string>
#include <vector>

#include "tinynas/engine/quantize.h"
#include "tn_kernels.h"

namespace tinynas::engine {

struct AudioFrontendConfig {
  int32_t sample_rate = 16000;    // Hz
  int32_t clip_samples = 16000;   // 1000 ms
  int32_t window_samples = 480;   // 30 ms
  int32_t stride_samples = 320;   // 20 ms
  int32_t fft_size = 512;         // a power of two >= window_samples
  int32_t mel_channels = 40;
  double mel_lower_hz = 20.0;
  double mel_upper_hz = 4000.0;   // at most the Nyquist frequency
  int32_t coefficients = 10;      // at most mel_channels
  int32_t log_floor_exponent = -20;  // mel energies below 2^log_floor_exponent count as that

  // 1 + (clip_samples - window_samples) / stride_samples: 49 for the defaults.
  int32_t frames() const;
};

// Throws core::InputError naming the field when the config cannot be run: non-positive sizes, a window
// longer than the clip or the FFT, an FFT size that is not a power of two (or above 65536), mel edges
// out of order or above the Nyquist frequency, more coefficients than mel channels, a mel channel that
// covers no FFT bin, a floor outside [2^-40, 2^0).
void validate_audio_frontend_config(const AudioFrontendConfig& config);

// The front-end's tables in double: what both implementations use.
struct AudioFrontendTables {
  std::vector<double> window;                    // [window_samples] periodic Hann
  std::vector<int32_t> mel_start;                // [mel_channels] first FFT bin of each channel
  std::vector<std::vector<double>> mel_weights;  // [mel_channels][bins from mel_start], all > 0
  std::vector<double> dct;                       // [coefficients][mel_channels] orthonormal DCT-II
};

// Validates the config, then builds its tables.
AudioFrontendTables audio_frontend_tables(const AudioFrontendConfig& config);

// The log mel energies of one clip ([frames][mel_channels]) and its MFCCs ([frames][coefficients]),
// in float, with kissfft's real FFT. Throws InputError unless pcm has clip_samples samples.
std::vector<float> audio_log_mel(const AudioFrontendConfig& config, const AudioFrontendTables& tables,
                                 const std::vector<int16_t>& pcm);
std::vector<float> audio_features(const AudioFrontendConfig& config, const AudioFrontendTables& tables,
                                  const std::vector<int16_t>& pcm);

// The int8 quantization of the features: q = clamp(round(value / scale) + zero_point, -128, 127).
struct AudioFeatureQuantization {
  double min = 0.0, max = 0.0;  // the range it covers (mfcc[0] of silence and of the loudest clip)
  double scale = 1.0;
  int32_t zero_point = 0;
};
AudioFeatureQuantization audio_feature_quantization(const AudioFrontendConfig& config);
std::vector<int8_t> quantize_audio_features(const AudioFeatureQuantization& quantization,
                                            const std::vector<float>& features);

// The fixed-point form of the tables for tn_mfcc_s8 / tn_mfcc_q20, and the shifts that keep every
// intermediate in range (tn_audio.c).
struct AudioFrontendFixed {
  AudioFrontendConfig config;
  std::vector<int32_t> window_q30;     // [window_samples]
  std::vector<int32_t> twiddles_q30;   // [fft_size / 2][2]: cos, sin of 2 pi k / fft_size
  std::vector<uint16_t> mel_start, mel_length;  // [mel_channels]
  std::vector<uint16_t> mel_weights_q15;        // the channels' weights one after the other
  std::vector<int32_t> dct_q30;        // [coefficients][mel_channels]
  int32_t window_shift = 0;            // s[n] = round(pcm[n] * window_q30[n] / 2^(window_shift + 15))
  int32_t power_shift = 0;             // P[k] = |2 X[k]|^2 >> power_shift
  int32_t mel_fraction_bits = 0;       // fixed mel energy = float mel energy * 2^mel_fraction_bits
  uint64_t mel_floor = 0;              // 2^(mel_fraction_bits + log_floor_exponent)
  QuantizedMultiplier output;          // 1 / (scale * 2^20)
  int32_t output_zero_point = 0;

  // The kernel's parameters, pointing into this object (valid while it lives unchanged).
  tn_mfcc_params params() const;
  // tn_mfcc_scratch_bytes of this front-end.
  int32_t scratch_bytes() const;
  // The tables' bytes in Flash (audio_frontend_c_source's arrays).
  int64_t table_bytes() const;
  // The int8 features of one clip of config.clip_samples samples, as the firmware computes them
  // (tn_mfcc_s8 in a scratch of its own). Throws InputError for a clip of another length.
  std::vector<int8_t> features(const std::vector<int16_t>& pcm) const;
};

// Throws InputError (naming the field) when the config's fixed-point form cannot hold its floor.
AudioFrontendFixed audio_frontend_fixed(const AudioFrontendConfig& config, const AudioFrontendTables& tables);
// The fixed form of the default config, built once: the front-end of Frontend::Mfcc graphs (graph.h).
const AudioFrontendFixed& default_audio_frontend_fixed();

// C99 source defining the fixed tables as static const arrays and `const tn_mfcc_params <symbol>`
// pointing at them, for a firmware (it includes tn_kernels.h).
std::string audio_frontend_c_source(const AudioFrontendFixed& fixed, const std::string& symbol);

}  // namespace tinynas::engine
