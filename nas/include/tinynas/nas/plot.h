#pragma once
// SVG plots through gnuplot: the caller writes the data and a script whose output is NAME.svg.tmp in
// `dir`; the plot is renamed to NAME.svg when gnuplot succeeds. Without gnuplot, or when it fails, a
// warning names what is missing and the script and data stay for re-plotting by hand.
#include <string>

namespace tinynas::nas {

// Runs `gnuplot script` in `dir`; returns whether NAME.svg was written.
bool render_svg(const std::string& dir, const std::string& script, const std::string& svg_name);

}  // namespace tinynas::nas
