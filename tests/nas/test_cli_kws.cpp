// Keyword spotting end to end through the CLI: a synthetic Speech Commands root (tone bursts), the
// shipped KWS space (49 x 10 MFCC input), `tinynas train` for a few steps, then `tinynas search` under
// the STM32F412's budget with an energy limit; the winner's firmware runs bit-identical in QEMU.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "run_tinynas.h"
#include "speech_fixture.h"
#include "test_helpers.h"
#include "tinynas/engine/audio_frontend.h"
#include "tinynas/engine/toolchain.h"
#include "tinynas/supernet/wav.h"

namespace fs = std::filesystem;
using tinynas_test::run_tinynas;

TEST(CliKws, TrainAndSearchOnSpeechCommands) {
  tinynas_test::TempDir dir;
  tinynas_test::write_tone_speech_root(dir.path / "speech", 8);
  // The shipped KWS space with the 4 classes of the two keywords (silence, unknown, yes, no).
  std::ifstream shipped(std::string(TINYNAS_SOURCE_DIR) + "/configs/spaces/kws.yaml");
  std::string space((std::istreambuf_iterator<char>(shipped)), std::istreambuf_iterator<char>());
  ASSERT_NE(space.find("num_classes: 12\n"), std::string::npos);
  space.replace(space.find("num_classes: 12\n"), 16, "num_classes: 4\n");
  dir.write("kws-space.yaml", space);
  const std::string cfg =
      dir.write("kws.yaml", "name: kws-tiny\nspace: kws-space.yaml\nmcu: stm32f412\n"
                                "constraints: {sram: 64K, flash: 256K}\n"
                                "data: {kind: speech_commands, path: speech, keywords: [yes, no], seed: 1}\n"
                                "supernet: {width: 0.25, resolutions: [49]}\n"
                                "train: {method: sandwich, epochs: 1, subnets_per_step: 2, batch_size: 8, threads: 1, "
                                "recalibration_images: 16, max_steps_per_epoch: 3}\n");
  const std::string run = (dir.path / "run").string();
  auto r = run_tinynas("train --config " + cfg + " --out " + run);
  ASSERT_EQ(r.code, 0) << r.out;
  ASSERT_TRUE(fs::exists(fs::path(run) / "supernet.pt"));

  const std::string out = (dir.path / "search").string();
  r = run_tinynas("search --config " + cfg + " --supernet " + run + "/supernet.pt --energy 20mJ --predictor none "
                  "--population 4 --parents 2 --mutations 2 --crossovers 2 --generations 1 --top-k 1 --seed 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto summary = nlohmann::json::parse(std::ifstream(fs::path(out) / "summary.json"));
  EXPECT_EQ(summary["mcu"], "stm32f412");
  EXPECT_EQ(summary["limits"]["sram_bytes"].get<int64_t>(), 64 * 1024);
  EXPECT_EQ(summary["limits"]["flash_bytes"].get<int64_t>(), 256 * 1024);
  ASSERT_GE(summary["networks"].size(), 1u);
  const auto& winner = summary["networks"][0];
  EXPECT_EQ(winner["arch"]["r"], 49);
  EXPECT_LE(winner["sram_bytes"].get<int64_t>(), 64 * 1024);
  EXPECT_LE(winner["flash_bytes"].get<int64_t>(), 256 * 1024);
  EXPECT_GT(winner["energy_uj"].get<double>(), 0.0);
  EXPECT_LE(winner["energy_uj"].get<double>(), 20000.0);
  // The front-end's PCM (32,000 B) and scratch (2,208 B) are in every network's SRAM.
  EXPECT_GE(winner["sram_bytes"].get<int64_t>(), 32000 + 2208 + 490);
  bool frontend_noted = false;
  for (const auto& note : summary["notes"]) frontend_noted |= note.get<std::string>().find("mfcc front-end") != std::string::npos;
  EXPECT_TRUE(frontend_noted) << summary["notes"];
  // 4 classes (silence, unknown, yes, no) on a 4-example holdout: top-1 is a multiple of 25 %.
  const double top1 = winner["holdout_top1"].get<double>();
  EXPECT_NEAR(top1 / 25.0, std::round(top1 / 25.0), 1e-9) << top1;
  if (tinynas::engine::arm_toolchain_available() && tinynas::engine::qemu_available()) {
    std::ifstream header(fs::path(out) / "firmware" / "model.h");
    const std::string h((std::istreambuf_iterator<char>(header)), std::istreambuf_iterator<char>());
    for (const char* line : {"MODEL_INPUT_H 49\n", "MODEL_INPUT_W 10\n", "MODEL_OUTPUT_SIZE 4\n"})
      EXPECT_NE(h.find(line), std::string::npos) << line << h;
    std::ifstream md(fs::path(out) / "report.md");
    const std::string report((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
    EXPECT_NE(report.find("bit-identical"), std::string::npos) << report;
    std::ifstream firmware_md(fs::path(out) / "firmware" / "report.md");
    const std::string firmware((std::istreambuf_iterator<char>(firmware_md)), std::istreambuf_iterator<char>());
    EXPECT_NE(firmware.find("| front-end | tn_mfcc_s8 |"), std::string::npos) << firmware;
  }

  // `run` takes WAV clips for the audio bundle: the firmware's own front-end, then the layers. Its int8
  // outputs equal those of the same features given as a .npy array of the network's float input
  // (x = (int8 feature + 128 - 128) / 128, the map of audio features), and with --qemu the firmware's.
  const std::string bundle = (fs::path(out) / "firmware").string();
  std::vector<std::string> clips;
  for (const char* word : {"yes", "no"})
    for (const auto& e : fs::directory_iterator(dir.path / "speech" / word))
      if (clips.size() < (word[0] == 'y' ? 1u : 2u)) {
        clips.push_back(e.path().string());
      }
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 49, 10), }";
  header.resize(128 - 10 - 1, ' ');  // magic, version and length: 10 bytes; the whole header: 128
  header += '\n';
  std::ofstream npy(dir.path / "features.npy", std::ios::binary);
  npy << "\x93NUMPY" << char(1) << char(0) << char(header.size()) << char(0) << header;
  for (const auto& clip : clips) {
    std::vector<int16_t> pcm = tinynas::data::read_wav(clip);
    pcm.resize(16000, 0);
    for (int8_t q : tinynas::engine::default_audio_frontend_fixed().features(pcm)) {
      const float x = float(q) / 128.0f;
      npy.write(reinterpret_cast<const char*>(&x), sizeof x);
    }
  }
  npy.close();
  const bool emulate = tinynas::engine::arm_toolchain_available() && tinynas::engine::qemu_available();
  r = run_tinynas("run " + bundle + " --json --input " + clips[0] + " " + clips[1] + (emulate ? " --qemu" : ""));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto from_wav = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  r = run_tinynas("run " + bundle + " --json --input " + (dir.path / "features.npy").string());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto from_features = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  ASSERT_EQ(from_wav["outputs"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(from_wav["outputs"][i]["int8"], from_features["outputs"][i]["int8"]) << i;
    EXPECT_EQ(from_wav["outputs"][i]["int8"].size(), 4u);
    if (emulate) {
      EXPECT_EQ(from_wav["outputs"][i]["firmware"], from_wav["outputs"][i]["int8"]) << i;
    }
  }
  if (emulate) {
    EXPECT_TRUE(from_wav["emulator"]["bit_identical"].get<bool>());
  }
  // An image for the audio bundle, a clip longer than 1 s: errors naming the file.
  const std::string picture = dir.write("picture.png", "not read");
  r = run_tinynas("run " + bundle + " --input " + picture);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("takes WAV clips (16 kHz mono) or .npy arrays of its features"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("picture.png"), std::string::npos) << r.out;
  tinynas::data::write_wav((dir.path / "long.wav").string(), std::vector<int16_t>(24000, 5));
  r = run_tinynas("run " + bundle + " --input " + (dir.path / "long.wav").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("long.wav' is 24000 samples long"), std::string::npos) << r.out;
}
