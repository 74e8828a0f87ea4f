#pragma once
// File helpers shared by every library: whole-file reads with clear errors, atomic writes.
#include <string>

namespace tinynas::core {

std::string read_text_file(const std::string& path);  // throws InputError naming the path
// Writes to "<path>.tmp.<pid>" and renames over `path`, so a reader never sees half a file.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace tinynas::core
