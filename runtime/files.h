// Small file helpers shared by everything that reads or writes user files
// (specs, sweeps, checkpoints, summaries, results). Errors are grokjit::Error
// with ExitCode::Io, naming the file and what failed.
#pragma once

#include <string>
#include <string_view>

namespace grokjit::runtime {

// The whole file; `what` names it in the error ("spec", "summary").
std::string read_text_file(const std::string& path, const char* what);

// Writes a temporary file next to `path`, fsyncs it and renames it into
// place (then fsyncs the folder): a reader never sees half a file, and a
// crash leaves the old file or the new one.
void write_file_atomically(const std::string& path, std::string_view bytes);

// "2026-11-23T16:22:57Z"
std::string iso_utc_now();

}  // namespace grokjit::runtime
