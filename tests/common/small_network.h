#pragma once
// A small hand-checked network shared by the cost-model, engine and budget tests.
#include "tinynas/search_space/network.h"

namespace tinynas_test {

// 9x9x1 input (odd, so ceil matters), stem 8 ch 3x3 s2; block 0: 8->16->8 expand, 3x3 s1, residual;
// block 1: 8->16 no expand, 3x3 s2; feature mix 32; classifier to 10.
inline tinynas::search_space::NetworkDesc small_network() {
  tinynas::search_space::NetworkDesc n;
  n.name = "small";
  n.resolution = 9;
  n.in_channels = 1;
  n.stem_out = 8;
  n.stem_kernel = 3;
  n.stem_stride = 2;
  // BlockDesc{in_ch, out_ch, mid_ch, kernel, stride, has_expand, residual}
  n.blocks = {tinynas::search_space::BlockDesc{8, 8, 16, 3, 1, true, true}, tinynas::search_space::BlockDesc{8, 16, 8, 3, 2, false, false}};
  n.feature_mix_out = 32;
  n.num_classes = 10;
  return n;
}

}  // namespace tinynas_test
