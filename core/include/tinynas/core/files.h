#pragma once
// File helpers shared by every library: whole-file reads with clear errors, atomic writes.
#include <string>
#include <utility>
#include <vector>

namespace tinynas::core {

std::string read_text_file(const std::string& path);  // throws InputError naming the path
// Whether a path names an existing regular file / directory / anything. Never throws: a path the
// system rejects (too long, a file used as a directory, no permission) answers false, so that a
// caller reports it as missing input rather than crashing.
bool is_file(const std::string& path) noexcept;
bool is_directory(const std::string& path) noexcept;
bool exists(const std::string& path) noexcept;
// Writes to "<path>.tmp.<pid>" and renames over `path`, so a reader never sees half a file.
// Fails (RuntimeFailure, the file unchanged, no temporary left) on a full disk or any write error.
void write_file_atomic(const std::string& path, const std::string& content);
// Several files as one: every one is written to its temporary first, then all are renamed; on a write
// error none is replaced and no temporary is left.
void write_files_atomic(const std::vector<std::pair<std::string, std::string>>& path_and_content);
// Removes the files or directories "<path><marker><pid>" beside `path` whose process is gone: the
// temporaries of a writer killed before its rename (atomic writes use ".tmp.", bundles ".tmp-" and ".old-").
void remove_stale_temporaries(const std::string& path, const std::string& marker);
// Creates the output directory a flag names (and its parents); InputError naming the flag when it
// cannot (a file in the way, no permission), the same for every command.
void create_output_dir(const std::string& dir, const std::string& flag = "--out");

}  // namespace tinynas::core
